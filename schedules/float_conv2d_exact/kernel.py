"""float_conv2d_exact: float32 conv2d with float64 products and sums and one final rounding.

Contract: docs/numerics.md and :mod:`schedules.float_conv2d_exact.compute`; numpy twin:
:mod:`schedules.float_conv2d_exact.reference`. The PrimFunc takes ``(x, w, bias, out)`` with int64
shapes and no ``global_symbol``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import placeholder
from schedules.families import schedule_for_family
from schedules.float_conv2d_exact import compute

__all__ = ["float_conv2d_exact_prim_func"]


def float_conv2d_exact_prim_func(x_shape, w_shape, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1,
                                 relu: bool = False, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x f32[N, C, H, W], w f32[O, Cg, KH, KW], bias f32[O]) -> f32[N, O, Ho, Wo]``;
    ``family`` "x86" schedules it, None leaves it unscheduled."""
    x = placeholder(x_shape, "float32", "x")
    w = placeholder(w_shape, "float32", "w")
    bias = placeholder((int(w_shape[0]),), "float32", "bias")
    out = compute.float_conv2d_exact(x, w, bias, strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu)
    func = te.create_prim_func([x, w, bias, out]).without_attr("global_symbol")
    return schedule_for_family("float_conv2d_exact", family, func, knobs)
