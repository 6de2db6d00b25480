"""Autotuning of tvm-sepnet kernels: MetaSchedule design spaces over the hand schedules' knobs, the
XGBoost cost model, a locked and crash-safe JSON database, local or RPC-tracker measurement, and
applying the records at build time (``tvm_sepnet.build(..., tuning=DIR)``).

Modules: :mod:`.spaces` (design spaces), :mod:`.tasks` (tunable kernels of a model), :mod:`.tuner`
(``tune``), :mod:`.measure` (builder, runner, timing), :mod:`.knob_search` (knob-list search), :mod:`.workdir` (the directory, lock, repair), :mod:`.records` (apply at build),
:mod:`.curve` (tuning curves and their plot).
"""
from .records import TuningMismatchError, TuningRecords
from .tuner import extract_tasks, tune
from .workdir import WorkDir, WorkDirBusyError

__all__ = ["TuningMismatchError", "TuningRecords", "WorkDir", "WorkDirBusyError", "extract_tasks", "tune"]
