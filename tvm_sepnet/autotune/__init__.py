"""Autotuning (``tvm-sepnet tune``): MetaSchedule design spaces over the hand schedules' knobs, the
XGBoost cost model, local or RPC-tracker measurement, a check of the tuned choices inside the model,
and tuning curves. It writes a work directory that ``tvm_sepnet.build(..., tuning=DIR)`` reads
through :mod:`tvm_sepnet.tuning`.

Modules: :mod:`.tuner` (``tune``, ``extract_tasks``), :mod:`.measure` (builder, runner, timing),
:mod:`.knob_search` (knob-list search), :mod:`.model_check` (tuned choices timed in the model),
:mod:`.accelerator` (fpga-sim tiling against simulated cycles), :mod:`.budget` (trial split),
:mod:`.curve` (tuning curves and their plot). This package sits above the builder: it builds models
to check them; nothing below the builder imports it.
"""
from .tuner import extract_tasks, tune

__all__ = ["extract_tasks", "tune"]
