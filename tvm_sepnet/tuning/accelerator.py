"""Tuned accelerator tiling, as a build reads it (``tvm_sepnet.build(..., tuning=DIR)`` for an
``fpga-sim`` target).

Records are JSON lines in ``WORK_DIR/fpga_records.jsonl`` (one per simulated trial, written by
:mod:`tvm_sepnet.autotune.accelerator`): a task (:func:`task_key`: the layer geometry, the unit and
the activation bits), the accelerator, the tiling knobs and the simulated cycles. :class:`TunedTiling`
gives each offloaded layer the fastest recorded tiling of its task (the default tiling is a record
too, so a build never gets a slower one).
"""
from __future__ import annotations

import json
import os

from .knobs import read_records as read_json_lines
from .records import TuningMismatchError
from .workdir import WorkDir

RECORDS = "fpga_records.jsonl"
TASK_FIELDS = ("c", "h", "w", "o", "groups", "cg_real", "og_real", "kh", "kw", "sh", "sw", "dh", "dw", "pad", "residual", "relu")


def task_key(geometry: dict, kind: str, bits: int) -> str:
    """Geometry + unit + activation bits: layers with equal keys share their tuning (records also
    name the accelerator)."""
    return json.dumps({"kind": kind, "bits": bits, **{k: geometry[k] for k in TASK_FIELDS}}, sort_keys=True)


def program_key(prog) -> str:
    return task_key(prog.geometry, prog.kind, prog.quant["bits"])


def read_records(work_dir: str) -> list[dict]:
    """Complete record lines (a reader's snapshot: an incomplete last line is skipped)."""
    return read_json_lines(os.path.join(work_dir, RECORDS))


def best_knobs(work_dir: str, spec_name: str) -> dict:
    """{task key: (knobs, cycles)} of the fastest record per task (never slower than the default: the
    default is a record too)."""
    best = {}
    for r in read_records(work_dir):
        if r.get("accelerator") != spec_name:
            continue
        if r["task"] not in best or r["cycles"] < best[r["task"]][1]:
            best[r["task"]] = (r["knobs"], r["cycles"])
    return best


class TunedTiling:
    """The best recorded tiling per task of a work directory, for ``OffloadToAccelerator`` (called per
    layer before it is compiled, so each layer is compiled once). ``check_matched`` raises
    ``TuningMismatchError`` when records exist but none matched a layer (a directory of another model
    never yields a silently untuned build)."""

    def __init__(self, work_dir: str, preset, spec):
        with WorkDir(work_dir, lock=False, create=False) as wd:
            wd.check_target(preset, create=False)
        self.work_dir = work_dir
        self.best = best_knobs(work_dir, spec.name)
        self.used: set[str] = set()
        self.layers = {"tuned": 0, "default": 0}

    def __call__(self, geometry: dict, kind: str, bits: int):
        """Knobs for a layer, or None (its default tiling)."""
        key = task_key(geometry, kind, bits)
        found = self.best.get(key)
        self.layers["tuned" if found else "default"] += 1
        if found:
            self.used.add(key)
            return found[0]
        return None

    def check_matched(self) -> None:
        if self.best and not self.used:
            raise TuningMismatchError(f"tuning directory {self.work_dir!r} has {len(self.best)} accelerator task(s), "
                                      "none of which matches a layer of this model: tuned for another model?")

    def summary(self) -> dict:
        return {"work_dir": os.path.abspath(self.work_dir), **self.layers, "records_used": len(self.used),
                "records": len(self.best)}
