"""CPU schedule (x86 and ARM families) of the exact float conv2d PrimFunc.

The conv tiling of :mod:`schedules.tiled_conv` (flattened output plane, parallel tasks of
output-channel tiles x position chunks, a task-local ``(i, ky, kx, o)`` copy of the weights,
register tiles of float64 accumulators vectorized over output channels, epilogue at the tile).
float64 lanes are half as many per register, so the default channel tile is 8 (two registers).
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import merge_knobs
from schedules.tiled_conv import TILED_CONV_KNOBS, apply_oihw_conv, schedule_oihw_conv

DEFAULT_KNOBS = dict(TILED_CONV_KNOBS)  # see schedules.tiled_conv.TILED_CONV_KNOBS


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``float_conv2d_exact`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    return schedule_oihw_conv(func, merge_knobs(DEFAULT_KNOBS, knobs, "float_conv2d_exact"), "w")


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule on ``sch`` (its ``main`` unscheduled; the trace is the tuning baseline)."""
    apply_oihw_conv(sch, merge_knobs(DEFAULT_KNOBS, knobs, "float_conv2d_exact"), "w")
