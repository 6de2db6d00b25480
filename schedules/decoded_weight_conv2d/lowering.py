"""Lowering of a layer with binary or int8 weights and float activations (the paper's numerics) to
this op's kernel (weights decoded in registers). See ``schedules/float_conv2d_exact/lowering.py`` for
the ``lower(lw, layer)`` interface."""
from __future__ import annotations

from .kernel import decoded_weight_conv2d_prim_func


def lower(lw, layer):
    conv, x_shape, geo, knobs = layer.conv, layer.x_shape, layer.geo, layer.knobs
    fmt, cg = conv.attrs.weight_format, conv.attrs.channels_per_group
    key = f"decoded_weight_conv2d({x_shape},{conv.w.shape},{conv.w.dtype},{fmt},{geo})"
    build = lambda: decoded_weight_conv2d_prim_func(x_shape, conv.w.shape, str(conv.w.dtype), weight_format=fmt,
                                                    channels_per_group=cg, family=lw.family, knobs=knobs, **geo)
    args = [conv.x, lw.const(conv.w), lw.const(conv.w_scale), lw.const(conv.bias)]
    return lw.call_tir(lw.kernel(key, build), args, layer.out_shape, "float32")
