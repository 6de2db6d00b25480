"""x86 schedule (AVX2 and up) of the exact float conv2d PrimFunc.

The conv tiling of :mod:`schedules.int8_conv2d.x86` (flattened output plane, parallel tasks of
output-channel tiles x position chunks, a task-local ``(i, ky, kx, o)`` copy of the weights,
register tiles of float64 accumulators vectorized over output channels, epilogue at the tile).
float64 lanes are half as many per register, so the default channel tile is 8 (two registers).
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.int8_conv2d.x86 import merge_knobs, schedule_conv, schedule_pad

DEFAULT_KNOBS = {
    "tile_o": 8,  # output channels per register tile = vector lanes (clamped to a divisor of O / groups)
    "tile_p": None,  # output positions per register tile, unrolled (None: from acc_registers)
    "acc_registers": 12,  # vector registers for the accumulator tile when tile_p is None
    "vector_bits": 256,  # register width (AVX2)
    "min_tasks": 8,  # split positions into chunks until there are at least this many parallel tasks
    "unroll": ("kx",),  # reduction loops to unroll, from ("ic", "ky", "kx")
    "parallel": True,
}


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``float_conv2d_exact`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "float_conv2d_exact")
    sch = s_tir.Schedule(func)
    schedule_pad(sch, knobs["parallel"])
    c_total = int(func.params[0].ty.shape[1])
    o_total, cg = (int(v) for v in func.params[1].ty.shape[:2])
    schedule_conv(sch, weight="w", o_per_group=o_total * cg // c_total, knobs=knobs)
    return sch.mod["main"]
