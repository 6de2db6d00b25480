"""The tuning kinds, discovered from the op folders: ``schedules/<op>/space.py`` declares

- ``SPACES``: ``{kind: (space, apply)}``: the MetaSchedule design space of the op's unscheduled
  PrimFunc (``space(sch, knobs)``) and its hand schedule (``apply(sch, knobs)``, whose trace is the
  baseline record of a task);
- ``KNOB_SPACES`` (optional): ``{kind: (op, points, features)}``: knob-list spaces
  (``points(geometry, knobs)``: knob overrides; ``features(geometry, knobs, point)``: XGBoost features).

Adding an op with a tuning space means adding its folder; nothing here names an op.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil

import schedules


@functools.lru_cache(maxsize=None)
def _op_spaces() -> tuple[dict, dict]:
    spaces, knob_spaces = {}, {}
    for info in sorted(pkgutil.iter_modules(schedules.__path__), key=lambda i: i.name):
        name = f"schedules.{info.name}.space"
        if not info.ispkg or importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        for kind, entry in getattr(module, "SPACES", {}).items():
            if kind in spaces:
                raise ValueError(f"tuning kind {kind!r} is declared by two op folders")
            spaces[kind] = entry
        knob_spaces.update(getattr(module, "KNOB_SPACES", {}))
    return spaces, knob_spaces


def spaces() -> dict:
    """``{kind: (space, apply)}`` of every op folder."""
    return _op_spaces()[0]


def knob_spaces() -> dict:
    """``{knob kind: (op, points, features)}`` of every op folder."""
    return _op_spaces()[1]
