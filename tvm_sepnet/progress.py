"""Progress bars (tqdm) of the long commands: compile, tune, bench, eval, conformance.

A bar goes to stderr, and only when stderr is a terminal and the command was not given ``--quiet``
(:func:`set_quiet`): piped output, ``--json`` results and test logs stay free of it.
"""
from __future__ import annotations

import sys

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """No bars from now on in this process (the command line's ``--quiet``)."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled(stream=None) -> bool:
    """Whether bars are shown: stderr (or ``stream``) is a terminal and ``--quiet`` was not given."""
    stream = stream or sys.stderr
    return not _QUIET and bool(getattr(stream, "isatty", lambda: False)())


def bar(total: int | None, desc: str, unit: str = "step", stream=None):
    """A tqdm bar on stderr (disabled, a no-op, when :func:`enabled` is false)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=stream or sys.stderr, disable=not enabled(stream),
                leave=False, dynamic_ncols=True)


__all__ = ["bar", "enabled", "set_quiet"]
