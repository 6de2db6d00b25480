"""Grouped bitserial conv2d: A-bit unsigned im2col-packed activations x 1-bit packed weights.

Contract: docs/numerics.md and :mod:`schedules.bitserial_conv2d.compute`; numpy twin:
:mod:`schedules.bitserial_conv2d.reference`; weight packing: :mod:`.packing`. The PrimFunc takes
``(xcol, wk, scale, offset, out)`` with int64 shapes and no ``global_symbol``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.bitserial_conv2d import compute
from schedules.common import placeholder
from schedules.families import schedule_for_family

__all__ = ["bitserial_conv2d_prim_func"]


def bitserial_conv2d_prim_func(xcol_shape, wk_shape, pack_dtype: str = "uint64", *, relu: bool = False,
                               residual: bool = False, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(xcol P[N, G, Ho, A, KR, Wo], wk P[O, KR], scale f32[O], offset f32[O]
    [, residual f32[N, O, Ho, Wo]]) -> f32[N, O, Ho, Wo]``; ``family`` "x86" schedules it, None leaves
    it unscheduled. The conv geometry (kernel, stride, padding, dilation) is in the im2col packing of
    ``xcol``; ``residual`` adds the residual operand before the ReLU."""
    o_n = int(wk_shape[0])
    xcol = placeholder(xcol_shape, pack_dtype, "xcol")
    wk = placeholder(wk_shape, pack_dtype, "wk")
    scale = placeholder((o_n,), "float32", "scale")
    offset = placeholder((o_n,), "float32", "offset")
    n, _, ho, _, _, wo = (int(v) for v in xcol_shape)
    res = [placeholder((n, o_n, ho, wo), "float32", "residual")] if residual else []
    out = compute.bitserial_conv2d(xcol, wk, scale, offset, relu=relu, residual=res[0] if res else None)
    func = te.create_prim_func([xcol, wk, scale, offset, *res, out]).without_attr("global_symbol")
    return schedule_for_family("bitserial_conv2d", family, func, knobs)
