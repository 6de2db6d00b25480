"""Grouped bitserial conv2d: A-bit unsigned packed activations x 1-bit packed weights.

Contract: docs/numerics.md and :mod:`schedules.bitserial_conv2d.compute`; numpy twin:
:mod:`schedules.bitserial_conv2d.reference`; weight packing: :mod:`.packing`. The PrimFunc takes
``(xp, wb, scale, offset, out)`` with int64 shapes and no ``global_symbol``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.bitserial_conv2d import compute

__all__ = ["bitserial_conv2d_prim_func"]


def _placeholder(shape, dtype: str, name: str) -> te.Tensor:
    return te.placeholder([tirx.IntImm("int64", int(s)) for s in shape], dtype, name=name)


def bitserial_conv2d_prim_func(x_packed_shape, w_packed_shape, pack_dtype: str, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1, relu: bool = False, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(xp P[N, G, KC, A, H, W], wb P[O, KC, KH, KW], scale f32[O], offset f32[O]) ->
    f32[N, O, Ho, Wo]``; ``family`` "x86" schedules it, None leaves it unscheduled."""
    o_n = int(w_packed_shape[0])
    xp = _placeholder(x_packed_shape, pack_dtype, "xp")
    wb = _placeholder(w_packed_shape, pack_dtype, "wb")
    scale = _placeholder((o_n,), "float32", "scale")
    offset = _placeholder((o_n,), "float32", "offset")
    out = compute.bitserial_conv2d(xp, wb, scale, offset, strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu)
    func = te.create_prim_func([xp, wb, scale, offset, out]).without_attr("global_symbol")
    if family is None:
        return func
    if family == "x86":
        from schedules.bitserial_conv2d import x86

        return x86.schedule(func, knobs)
    raise ValueError(f"no bitserial_conv2d schedule for family {family!r}")
