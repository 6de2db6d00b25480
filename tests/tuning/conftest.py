"""Fixtures of the tuning tests."""
from tests.schedules.conftest import target  # noqa: F401  (the host kernel target)
