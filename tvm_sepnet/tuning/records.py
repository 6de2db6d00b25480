"""Apply a tuning work directory at build time (``tvm_sepnet.build(..., tuning=DIR)``).

For every tunable kernel ``LowerToKernels`` asks :meth:`TuningRecords.lookup`; the best record of its
workload is used when it was measured at least ``MIN_GAIN`` faster than the kernel's hand schedule
(``hand.json``, measured the same way; where the tuner re-measured that record interleaved with the
hand schedule, ``confirmed.json``, that time counts), else the hand schedule stays. Kernels are
matched by the structural hash of their unscheduled PrimFunc, one by one, so a tuned build never depends on how the whole
module was lowered (TVM 0.27's
``compile_relax`` silently returns the untuned build when given an already-lowered module; we do
not go through it). A directory whose records match none of the model's kernels is an error, never
a silent untuned build.

Knob tasks (pointwise int8 convs: algorithm and channel-word tile, ``knob_records.jsonl``) are looked
up by :meth:`TuningRecords.knobs_for` with their geometry key; only *confirmed* points count (the best
points of a search re-measured interleaved with the default, :func:`knob_records_by_task`), and only
when at least ``MIN_GAIN`` faster than the default.

Last, the *model check* (:mod:`.model_check`, ``model_check.json``): a choice that made its layers
slower inside the model than the hand build's (timed in the model, where neighbouring kernels share
the caches) is not used, whatever its standalone time.
"""
from __future__ import annotations

import json
import math
import os
import sys

import tvm_ffi

from schedules.schedule_utils import workload_module

from ..errors import SepnetError
from ..targets import get_target
from . import knobs as knob_records
from .kinds import spaces
from .tasks import workload_key
from .workdir import KNOB_RECORDS, MODEL_CHECK, RECORDS, WorkDir, format_skipped, median_secs

MIN_GAIN = 0.01  # a tuned schedule replaces the hand one only if measured at least 1 % faster


class TuningMismatchError(SepnetError):
    """The tuning records do not belong to this model / target."""


class TuningRecords:
    """Tuned schedules of a work directory, for one target preset."""

    def __init__(self, work_dir: str, target):
        self.preset = get_target(target)
        self.work_dir = work_dir
        self.wd = WorkDir(work_dir, lock=False, create=False)
        if not os.path.exists(self.wd.file(RECORDS)) and not os.path.exists(self.wd.file(KNOB_RECORDS)):
            raise TuningMismatchError(f"tuning directory {work_dir!r} has no tuning records; run tvm-sepnet tune first")
        self.wd.check_target(self.preset, create=False)
        self.db = self.wd.database
        self.hand = self.wd.hand()
        self.confirmed = self.wd.confirmed()
        self.knob_done = knob_records_by_task(self.wd.file(KNOB_RECORDS), self.preset.name, confirmed=True,
                                              skipped=self.wd.skipped)
        self.model_check = self.wd.load_json(MODEL_CHECK)
        self.skipped = list(self.wd.skipped)  # unreadable record lines, left out of this build
        if self.skipped:
            print(f"tvm-sepnet: warning: tuning directory {work_dir!r}: {format_skipped(self.skipped)}", file=sys.stderr)
        self.target = self.preset.tvm_target()
        self.used: dict[str, list[str]] = {"tuned": [], "hand_faster": [], "no_record": [], "slower_in_model": []}
        self.choices: dict[str, dict] = {}  # task key -> the tuned choice a build uses (for the model check)
        self.rejected: dict[str, str] = {}  # task key -> name: tuned choices the model check found slower

    def _use(self, key: str, name: str, entry: dict, choice: str) -> bool:
        """Whether a tuned ``choice`` (schedule hash or knob id) of task ``key`` is used: not when the
        model check found it slower in the model; records it in ``self.choices`` otherwise."""
        if rejected_in_model(self.model_check, key, choice):
            self.used["slower_in_model"].append(name)
            self.rejected[key] = name
            return False
        self.used["tuned"].append(name)
        # the entry's layer list is the lowering's own: complete once the whole model is lowered
        self.choices[key] = {"task": name, "kind": entry["kind"], "choice": choice, "layers": entry["layers"]}
        return True

    def lookup(self, entry: dict):
        """The tuned PrimFunc (no ``global_symbol``) for a ``LowerToKernels`` task entry, or None."""
        if entry["kind"] not in spaces():
            return None
        mod = workload_module(entry["unscheduled"])
        name = f"{entry['kind']}[{entry['layers'][0]}]"
        best, sch = best_record_secs(self.db, mod, self.target, self.confirmed)
        if best is None:
            self.used["no_record"].append(name)
            return None
        hand = self.hand.get(workload_key(mod))
        if hand is not None and best >= hand * (1 - MIN_GAIN):
            self.used["hand_faster"].append(name)
            return None
        if not self._use(workload_key(mod), name, entry, schedule_id(sch.mod)):
            return None
        return sch.mod["main"].without_attr("global_symbol")

    def knobs_for(self, key: str, entry: dict) -> dict | None:
        """The tuned knob overrides of a ``LowerToKernels`` knob task (``key``: its geometry key), or
        None (the default knobs: no record, or the default measured within ``MIN_GAIN``)."""
        knobs, status = tuned_point(self.knob_done.get(key, {}))
        name = f"{entry['kind']}[{entry['layers'][0]}]"
        if status != "tuned":
            self.used[status].append(name)
            return None
        return knobs if self._use(key, name, entry, knob_records.knob_id(knobs)) else None

    def summary(self) -> dict:
        """Counts of kernels that got a tuned schedule, kept the (faster) hand one, had no record or kept
        the hand one because the model check found the tuned one slower in the model; the kernels by
        status, and the tuned choices by task key."""
        choices = {k: {**c, "layers": list(c["layers"])} for k, c in self.choices.items()}
        return {k: len(v) for k, v in self.used.items()} | {"kernels": self.used, "choices": choices,
                                                             "rejected_in_model": dict(self.rejected),
                                                             "skipped_lines": list(self.skipped)}

    def check_matched(self) -> None:
        """Raise :class:`TuningMismatchError` if no kernel of the build had a record."""
        if not self.used["tuned"] and not self.used["hand_faster"] and not self.used["slower_in_model"]:
            raise TuningMismatchError(
                f"the tuning records in {self.work_dir!r} match none of this model's {len(self.used['no_record'])} "
                f"tunable kernels (tuned for another model, input size, configuration or target?); "
                "re-tune with tvm-sepnet tune for this model and target, or build without --tuning")


def rejected_in_model(verdicts: dict, key: str, choice: str) -> bool:
    """Whether the model check (``verdicts``: ``model_check.json``) found ``choice`` of task ``key``
    slower inside the model than the hand kernel."""
    verdict = verdicts.get(key, {})
    return bool(verdict.get("slower")) and verdict.get("choice") == choice


def best_record_secs(db, mod, target, confirmed: dict):
    """(seconds, schedule) of the record a build uses for workload ``mod``: MetaSchedule's best record
    (it ranks records by their *mean* run time), timed by its confirmation (``confirmed.json``) when
    that record's schedule was the one confirmed, else by its median; (None, None) without a record."""
    record = db.query_tuning_record(mod, target, "main")
    if record is None or not record.run_secs:
        return None, None
    sch = db.query_schedule(mod, target, "main")
    found = confirmed.get(workload_key(mod))
    if found is not None and found.get("schedule") == schedule_id(sch.mod):
        return found["secs"], sch  # re-measured interleaved with the hand schedule
    return median_secs(record.run_secs), sch


def schedule_id(mod) -> str:
    """Identity of a scheduled module (which record a confirmation is about): its structural hash,
    which, unlike the trace's JSON text, survives the database's save and load."""
    return str(tvm_ffi.structural_hash(mod))


def knob_records_by_task(path: str, target_name: str, confirmed: bool = False,
                         skipped: list | None = None) -> dict[str, dict[str, float]]:
    """{knob task key: {knob id: seconds}} of a knob records file, for one target (a failed trial
    costs ``knob_records.FAILED_COST``). ``confirmed``: for a task with confirmation records
    (``search == "confirm"``: the best points re-measured interleaved with the default), only its
    default and those; otherwise the search trials (confirmation records excluded)."""
    trials: dict[str, dict[str, float]] = {}
    confirms: dict[str, dict[str, float]] = {}
    for r in knob_records.read_records(path, skipped):
        if r.get("target") != target_name:
            continue
        cost = knob_records.FAILED_COST if r.get("secs") is None else r["secs"]
        into = confirms if r.get("search") == "confirm" else trials
        into.setdefault(r["task"], {})[knob_records.knob_id(r["knobs"])] = cost
    if not confirmed:
        return trials
    default = knob_records.knob_id({})
    out = dict(trials)
    for key, conf in confirms.items():
        out[key] = {**({default: trials[key][default]} if default in trials.get(key, {}) else {}), **conf}
    return out


def tuned_point(measured: dict[str, float]) -> tuple[dict | None, str]:
    """(knob overrides, "tuned") for the fastest measured point of a knob task when it beats the
    default (``{}``) by ``MIN_GAIN``; else (None, "hand_faster"), or (None, "no_record") without a
    measured default."""
    default = measured.get(knob_records.knob_id({}))
    if default is None or not math.isfinite(default):
        return None, "no_record"
    best = min(measured, key=measured.get)
    if measured[best] >= default * (1 - MIN_GAIN):
        return None, "hand_faster"
    return json.loads(best), "tuned"
