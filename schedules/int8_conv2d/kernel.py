"""Grouped int8 conv2d: uint8/int8 activations x int8 weights, int32 accumulation, integer epilogue.

Contract: docs/numerics.md and :mod:`schedules.int8_conv2d.compute`; numpy twin:
:mod:`schedules.int8_conv2d.reference`; weight quantization: :mod:`.packing`. The PrimFunc takes
``(xq, wq, scale, offset, out)`` with int64 shapes and no ``global_symbol``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import placeholder
from schedules.families import schedule_for_family, schedule_module
from schedules.int8_conv2d import channel_words, compute, cpu

__all__ = ["fuses_quantize", "int8_conv2d_prim_func", "int8_conv2d_weight_plan"]


def int8_conv2d_weight_plan(x_shape, w_shape, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1,
                            family: str | None = "x86", knobs=None):
    """The kernel-ready weight layout the kernel of this family / knobs wants (a dict for
    :func:`schedules.int8_conv2d.packing.prepare_weights`), or None: stored OIHW ``wq``."""
    if family is None:
        return None
    geo = compute.conv_geometry(x_shape, w_shape, strides=strides, padding=padding, dilation=dilation, groups=groups)
    _, family_defaults = schedule_module("int8_conv2d", family)
    return cpu.word_plan(geo, {**family_defaults, **(knobs or {})})  # word_plan merges the rest, rejects unknown knobs


def fuses_quantize(plan) -> bool:
    """Whether the kernel of weight plan ``plan`` can quantize its float input itself (the channel-word
    kernel does it in its repacking stage)."""
    return plan is not None and plan.get("layout") in channel_words.WORD_ISAS


def int8_conv2d_prim_func(x_shape, x_dtype: str, w_shape, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1,
                          relu: bool = False, residual: bool = False, quantize=None, family: str | None = "x86", knobs=None,
                          prepacked: bool = False) -> tirx.PrimFunc:
    """PrimFunc ``(xq x_dtype[N, C, H, W], wq int8[O, Cg, KH, KW], scale f32[O], offset f32[O]
    [, inv_scale f32[1]][, residual f32[N, O, Ho, Wo]]) -> f32[N, O, Ho, Wo]``; ``x_dtype`` is "uint8"
    or "int8"; ``family`` "x86" schedules it, None leaves it unscheduled. With ``prepacked=True`` the
    weight parameter is ``packing.prepare_weights(wq, int8_conv2d_weight_plan(...))`` instead of
    ``wq`` (same when the plan is None). ``residual`` adds a residual operand before the ReLU;
    ``quantize=(lo, hi)`` (only where :func:`fuses_quantize` of the plan) makes the first parameter the
    float32 activations, quantized to ``x_dtype`` in the kernel with ``inv_scale``."""
    if x_dtype not in ("uint8", "int8"):
        raise ValueError(f"int8_conv2d wants uint8/int8 activations, got {x_dtype}")
    plan = int8_conv2d_weight_plan(x_shape, w_shape, strides=strides, padding=padding, dilation=dilation, groups=groups,
                                   family=family, knobs=knobs)
    if plan is not None:
        geo = compute.conv_geometry(x_shape, w_shape, strides=strides, padding=padding, dilation=dilation, groups=groups)
        return channel_words.build(geo, x_dtype, isa=channel_words.WORD_ISAS[plan["layout"]], relu=relu,
                                   tile_o=plan["tile_o"], tile_p=plan["tile_p"], prepacked=prepacked,
                                   unroll_words=plan["unroll"], quantize=quantize, residual=residual)
    if quantize is not None:
        raise ValueError("int8_conv2d: this kernel does not fuse the input quantization (see fuses_quantize)")
    o_n = int(w_shape[0])
    xq = placeholder(x_shape, x_dtype, "xq")
    wq = placeholder(w_shape, "int8", "wq")
    scale = placeholder((o_n,), "float32", "scale")
    offset = placeholder((o_n,), "float32", "offset")
    geo = compute.conv_geometry(x_shape, w_shape, strides=strides, padding=padding, dilation=dilation, groups=groups)
    res = [placeholder((geo["n"], o_n, geo["ho"], geo["wo"]), "float32", "residual")] if residual else []
    out = compute.int8_conv2d(xq, wq, scale, offset, strides=strides, padding=padding, dilation=dilation, groups=groups,
                              relu=relu, residual=res[0] if res else None)
    func = te.create_prim_func([xq, wq, scale, offset, *res, out]).without_attr("global_symbol")
    return schedule_for_family("int8_conv2d", family, func, knobs)
