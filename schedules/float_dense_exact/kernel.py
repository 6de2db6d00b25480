"""float_dense_exact PrimFunc builder (contract: :mod:`schedules.float_dense_exact.compute`)."""
from __future__ import annotations

from tvm import DataType, te, tirx

from schedules.common import merge_knobs, placeholder
from schedules.families import default_knobs, schedule_for_family
from schedules.float_dense_exact import compute
from schedules.float_dense_exact.packing import dense_tile, padded_columns

__all__ = ["float_dense_exact_prim_func", "float_dense_exact_tile"]


def float_dense_exact_tile(m: int, family: str | None = "x86", knobs=None) -> int:
    """Output columns per packed weight tile of an ``m``-column dense layer for the family's schedule
    (1 with no family: the unscheduled kernel takes ``(M, K, 1)`` weights)."""
    if family is None:
        return 1
    merged = merge_knobs(default_knobs("float_dense_exact", family), knobs, "float_dense_exact")
    return dense_tile(m, merged["tile_m"], merged["vector_bits"] // DataType("float64").bits)


def float_dense_exact_prim_func(x_shape, m: int, *, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x f32[P, K], wp f32[Mp / T, K, T], bias f32[M]) -> f32[P, M]`` with ``T =
    float_dense_exact_tile(m, family, knobs)`` and ``Mp`` = ``M`` rounded up to a multiple of ``T``
    (:func:`schedules.float_dense_exact.packing.pack_dense_weights`); ``family`` None leaves it unscheduled."""
    p, k = (int(v) for v in x_shape)
    tile = float_dense_exact_tile(m, family, knobs)
    x = placeholder((p, k), "float32", "x")
    wp = placeholder((padded_columns(m, tile) // tile, k, tile), "float32", "wp")
    bias = placeholder((m,), "float32", "bias")
    out = compute.float_dense_exact(x, wp, bias)
    func = te.create_prim_func([x, wp, bias, out]).without_attr("global_symbol")
    return schedule_for_family("float_dense_exact", family, func, knobs)
