"""What a build reads from autotuning: the work directory (:mod:`.workdir`: lock, crash-safe JSON
lines), the records applied at build time (:mod:`.records`: ``tvm_sepnet.build(..., tuning=DIR)``;
:mod:`.accelerator`: tuned accelerator tiling), task identity (:mod:`.tasks`), the tuning kinds
discovered from the op folders' design spaces (:mod:`.kinds`) and the knob-list record format
(:mod:`.knobs`).

The search that writes these (MetaSchedule + XGBoost, measurement, model check, curves) is
:mod:`tvm_sepnet.autotune`, which sits above the builder; nothing here imports it.
"""
from .records import TuningMismatchError, TuningRecords
from .workdir import WorkDir, WorkDirBusyError

__all__ = ["TuningMismatchError", "TuningRecords", "WorkDir", "WorkDirBusyError"]
