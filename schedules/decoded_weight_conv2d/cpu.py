"""CPU schedule (x86 and ARM families) of the decoded-weight conv2d PrimFunc.

The conv tiling of :mod:`schedules.tiled_conv` (flattened output plane, parallel tasks of
output-channel tiles x position chunks, a task-local ``(i, ky, kx, o)`` copy of the weight words,
register tiles vectorized over output channels, epilogue at the tile). Weights are decoded inside
the reduction, once per tap and channel vector, and shared by the ``tile_p`` positions of the tile:
narrower channel vectors and more positions than for int8 keep the decode cost small.
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import merge_knobs
from schedules.tiled_conv import TILED_CONV_KNOBS, schedule_conv

DEFAULT_KNOBS = {**TILED_CONV_KNOBS, "tile_o": 16}  # see schedules.tiled_conv.TILED_CONV_KNOBS


def _channels_per_group(sch: s_tir.Schedule) -> int:
    """``Cg``: the extent of the input-channel reduction loop of ``acc``."""
    return int(sch.get(sch.get_loops(sch.get_sblock("acc"))[4]).extent)


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``decoded_weight_conv2d`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "decoded_weight_conv2d")
    sch = s_tir.Schedule(func)
    c_total = int(func.params[0].ty.shape[1])
    o_total = int(func.params[1].ty.shape[0])
    groups = c_total // _channels_per_group(sch)
    schedule_conv(sch, weight="w", o_per_group=o_total // groups, knobs=knobs)
    return sch.mod["main"]
