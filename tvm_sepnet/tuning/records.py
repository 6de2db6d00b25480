"""Apply a tuning work directory at build time (``tvm_sepnet.build(..., tuning=DIR)``).

For every tunable kernel ``LowerToKernels`` asks :meth:`TuningRecords.lookup`; the best record of its
workload is used when it was measured at least ``MIN_GAIN`` faster than the kernel's hand schedule
(``hand.json``, measured the same way), else the hand schedule stays. Kernels are matched by the structural hash of their unscheduled PrimFunc,
one by one, so a tuned build never depends on how the whole module was lowered (TVM 0.27's
``compile_relax`` silently returns the untuned build when given an already-lowered module; we do
not go through it). A directory whose records match none of the model's kernels is an error, never
a silent untuned build.
"""
from __future__ import annotations

import os

from ..errors import SepnetError
from .tasks import KINDS, workload_key, workload_module
from .workdir import RECORDS, WorkDir, median_secs


MIN_GAIN = 0.01  # a tuned schedule replaces the hand one only if measured at least 1 % faster


class TuningMismatchError(SepnetError):
    """The tuning records do not belong to this model / target."""


class TuningRecords:
    """Tuned schedules of a work directory, for one target preset."""

    def __init__(self, work_dir: str, target):
        from ..targets import get_target

        self.preset = get_target(target)
        self.work_dir = work_dir
        self.wd = WorkDir(work_dir, lock=False, create=False)
        if not os.path.exists(self.wd.file(RECORDS)):
            raise TuningMismatchError(f"tuning directory {work_dir!r} has no tuning records; run tvm-sepnet tune first")
        self.wd.check_target(self.preset, create=False)
        self.db = self.wd.database
        self.hand = self.wd.hand()
        self.target = self.preset.tvm_target()
        self.used: dict[str, list[str]] = {"tuned": [], "hand_faster": [], "no_record": []}

    def lookup(self, entry: dict):
        """The tuned PrimFunc (no ``global_symbol``) for a ``LowerToKernels`` task entry, or None."""
        if entry["kind"] not in KINDS:
            return None
        mod = workload_module(entry["unscheduled"])
        name = f"{entry['kind']}[{entry['layers'][0]}]"
        record = self.db.query_tuning_record(mod, self.target, "main")
        if record is None or not record.run_secs:
            self.used["no_record"].append(name)
            return None
        best = median_secs(record.run_secs)
        hand = self.hand.get(workload_key(mod))
        if hand is not None and best >= hand * (1 - MIN_GAIN):
            self.used["hand_faster"].append(name)
            return None
        sch = self.db.query_schedule(mod, self.target, "main")
        self.used["tuned"].append(name)
        return sch.mod["main"].without_attr("global_symbol")

    def summary(self) -> dict:
        """Counts of kernels that got a tuned schedule, kept the (faster) hand one, or had no record."""
        return {k: len(v) for k, v in self.used.items()} | {"kernels": self.used}

    def check_matched(self) -> None:
        """Raise :class:`TuningMismatchError` if no kernel of the build had a record."""
        if not self.used["tuned"] and not self.used["hand_faster"]:
            raise TuningMismatchError(
                f"the tuning records in {self.work_dir!r} match none of this model's {len(self.used['no_record'])} "
                f"tunable kernels (tuned for another model, input size, configuration or target?); "
                "re-tune with tvm-sepnet tune for this model and target, or build without --tuning")
