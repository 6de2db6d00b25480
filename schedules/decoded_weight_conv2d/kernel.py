"""decoded_weight_conv2d: float32 activations x binary or int8 weights decoded in registers.

Contract: docs/numerics.md and :mod:`schedules.decoded_weight_conv2d.compute`; numpy twin:
:mod:`schedules.decoded_weight_conv2d.reference`. The PrimFunc takes ``(x, w, scale, bias, out)``
with int64 shapes and no ``global_symbol``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import placeholder
from schedules.decoded_weight_conv2d import compute
from schedules.families import schedule_for_family

__all__ = ["decoded_weight_conv2d_prim_func"]


def decoded_weight_conv2d_prim_func(x_shape, w_shape, w_dtype: str, *, weight_format: str, channels_per_group: int,
                                    strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1, relu: bool = False,
                                    family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x f32[N, C, H, W], w w_dtype[w_shape], scale f32[O], bias f32[O]) ->
    f32[N, O, Ho, Wo]``; ``w_shape`` is ``(O, KC, KH, KW)`` packed words for "binary",
    ``(O, Cg, KH, KW)`` int8 for "int8"; ``family`` "x86" schedules it, None leaves it unscheduled."""
    o_n = int(w_shape[0])
    x = placeholder(x_shape, "float32", "x")
    w = placeholder(w_shape, w_dtype, "w")
    scale = placeholder((o_n,), "float32", "scale")
    bias = placeholder((o_n,), "float32", "bias")
    out = compute.decoded_weight_conv2d(
        x, w, scale, bias, weight_format=weight_format, channels_per_group=channels_per_group,
        strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu,
    )
    func = te.create_prim_func([x, w, scale, bias, out]).without_attr("global_symbol")
    return schedule_for_family("decoded_weight_conv2d", family, func, knobs)
