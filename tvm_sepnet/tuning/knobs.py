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

from .workdir import append_json_line, split_json_lines

FAILED_COST = float("inf")


def knob_id(knobs: dict) -> str:
    """Canonical text of a knob dict (the identity of a point of a space)."""
    return json.dumps(knobs, sort_keys=True)


def append_record(path: str, record: dict) -> None:
    """Append one record (a JSON line, fsynced) to ``path``."""
    append_json_line(path, record)


def read_records(path: str) -> list[dict]:
    """The complete JSON lines of ``path`` (a reader's snapshot: an incomplete last line is skipped)."""
    good, _, _ = split_json_lines(path)
    return [json.loads(line) for line in good]
