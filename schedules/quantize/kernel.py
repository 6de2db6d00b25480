"""Activation quantization (``quantize``) and quantize + bit packing (``quantize_bitpack``).

Contract: docs/numerics.md and :mod:`schedules.quantize.compute`; numpy twin:
:mod:`schedules.quantize.reference`. PrimFuncs take ``(x, inv_scale, out)``, int64 shapes, no
``global_symbol`` (they are added to Relax modules through ``call_tir``).
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import placeholder
from schedules.families import schedule_for_family
from schedules.quantize import compute

__all__ = ["fake_quantize_prim_func", "quantize_prim_func", "quantize_bitpack_prim_func", "quantize_bitpack_im2col_prim_func"]


def _placeholders(shape):
    return placeholder(shape, "float32", "x"), placeholder((1,), "float32", "inv_scale")


def _finish(inputs, out, family, knobs) -> tirx.PrimFunc:
    func = te.create_prim_func([*inputs, out]).without_attr("global_symbol")
    return schedule_for_family("quantize", family, func, knobs)


def quantize_prim_func(shape, *, lo: int, hi: int, out_dtype: str, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[shape], inv_scale float32[1]) -> out_dtype[shape]``."""
    x, inv_scale = _placeholders(shape)
    out = compute.quantize(x, inv_scale, lo=lo, hi=hi, out_dtype=out_dtype)
    return _finish([x, inv_scale], out, family, knobs)


def fake_quantize_prim_func(shape, *, lo: int, hi: int, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[shape], inv_scale float32[1], scale float32[1]) -> float32[shape]``."""
    x, inv_scale = _placeholders(shape)
    scale = placeholder((1,), "float32", "scale")
    out = compute.fake_quantize(x, inv_scale, scale, lo=lo, hi=hi)
    return _finish([x, inv_scale, scale], out, family, knobs)


def quantize_bitpack_prim_func(shape, *, bits: int, groups: int, pack_bits: int, family: str | None = "x86",
                               knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[N, C, H, W], inv_scale float32[1]) -> P[N, G, KC, bits, H, W]``."""
    if len(shape) != 4:
        raise ValueError(f"quantize_bitpack expects an NCHW shape, got {tuple(shape)}")
    x, inv_scale = _placeholders(shape)
    out = compute.quantize_bitpack(x, inv_scale, bits=bits, groups=groups, pack_bits=pack_bits)
    return _finish([x, inv_scale], out, family, knobs)


def quantize_bitpack_im2col_prim_func(shape, *, bits: int, groups: int, pack_bits: int = 64, kernel, strides=1, padding=0,
                                      dilation=1, family: str | None = "x86", knobs=None) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[N, C, H, W], inv_scale float32[1]) -> P[N, G, Ho, bits, KR, Wo]``: the
    im2col bit layout of :func:`schedules.quantize.compute.bitpack_im2col` (``P`` = uint32/uint64)."""
    if len(shape) != 4:
        raise ValueError(f"quantize_bitpack expects an NCHW shape, got {tuple(shape)}")
    x, inv_scale = _placeholders(shape)
    out = compute.quantize_bitpack_im2col(x, inv_scale, bits=bits, groups=groups, pack_bits=pack_bits, kernel=kernel,
                                          strides=strides, padding=padding, dilation=dilation)
    return _finish([x, inv_scale], out, family, knobs)
