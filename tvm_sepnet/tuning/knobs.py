"""Knob-list records: the identity of a point of a knob space and the JSON-lines file of measured points.

For kernels whose knobs change more than a loop nest (the channel-word int8 kernel: its weight layout
follows its register tile) and for the accelerator's tiling, a design space is an explicit list of
knob dicts. Each measured point is one JSON line (``knob_id`` of its knobs, its cost), appended and
fsynced one per trial (:func:`append_record`), so a killed run loses nothing complete;
:func:`read_records` skips an incomplete last line (the lock holder of the work directory repairs the
file). A failed measurement costs ``FAILED_COST``. The search over such lists is
:mod:`tvm_sepnet.autotune.knob_search`.
"""
from __future__ import annotations

import json
import os

from .workdir import append_json_line, good_line_numbers, split_json_lines

FAILED_COST = float("inf")


def knob_id(knobs: dict) -> str:
    """Canonical text of a knob dict (the identity of a point of a space)."""
    return json.dumps(knobs, sort_keys=True)


def append_record(path: str, record: dict) -> None:
    """Append one record (a JSON line, fsynced) to ``path``."""
    append_json_line(path, record)


def read_records(path: str, skipped: list | None = None, keys=("task", "knobs")) -> list[dict]:
    """The records of ``path``: its complete JSON lines that are objects with ``keys`` (a reader's
    snapshot: an incomplete last line is skipped). Every other line (but an unterminated last one, which
    may be still being appended) is added to ``skipped`` as ``{"file", "line", "why"}``."""
    good, bad, ends_clean = split_json_lines(path)
    cut = bad[-1][0] if bad and not ends_clean else None
    name = os.path.basename(path)
    out, report = [], [{"file": name, "line": n, "why": "not JSON"} for n, _ in bad if n != cut]
    numbers = iter(good_line_numbers(path))
    for line in good:
        number, value = next(numbers), json.loads(line)
        if isinstance(value, dict) and all(k in value for k in keys) and isinstance(value["knobs"], dict):
            out.append(value)
        else:
            report.append({"file": name, "line": number, "why": f"not a record (an object with {', '.join(keys)})"})
    if skipped is not None:
        skipped.extend(sorted(report, key=lambda s: s["line"]))
    return out
