"""numpy twin of ``xnor_conv2d``: the contract of a *sign layer* (docs/numerics.md, "Sign layers"),
written from the definition with float64 convolutions of ±1 values (independent of any bit layout).

A sign layer takes float32 NCHW ``x``, binarizes it with ``sign(x) = -1 if x < 0 else +1`` (0, -0.0 and
NaN give +1: Larq's ``ste_sign``, Brevitas' ``BipolarQuant`` and LCE's ``LceQuantize`` all map 0 to +1),
and convolves with ±1 OIHW weights ``B`` (grouped; ``Cg = C / groups``, ``K = KH * KW * Cg``):

- ``pc1[n, o, y, x]``: the taps ``(c, ky, kx)`` of the group where the activation and the weight differ,
  with every out-of-image tap counted as activation +1 (``popcount(x XOR w)`` on sign bits, bit 1 = -1;
  the ±1 dot product with +1 padding is ``acc1 = K - 2 * pc1``);
- ``acc_relu`` (LCE's fused ReLU, acting on the integer before the multiply-add):
  ``pc = min(pc1, K / 2)``, i.e. ``(K - max(acc1, 0)) / 2`` (a half integer when K is odd), else ``pc = pc1``;
- ``y = float32(float32(pc) * m2[o]) + c[o]``, two float32 roundings, no fused multiply-add, with
  ``m2 = -2 * mult`` (exact) and ``c = float32(float64(bias) + float64(K) * float64(mult))``: in real
  arithmetic ``y = mult * acc + bias``, rounded as Larq Compute Engine's float-output ``LceBconv2d``;
- ``pad_value = 0`` (zero padding: an out-of-image tap contributes 0): ``y = y - float32(float32(S) * mult[o])``
  with ``S[o, y, x]`` the sum of the ±1 weights over the out-of-image taps of that output pixel (LCE's
  correction after its +1-padded computation); ``pad_value = 1`` (Larq ``pad_values=1``): nothing more;
- then ``y + residual`` (float32) and ``max(., 0)`` with ``relu``, as the integer epilogue of other layers.

``outputs`` may also ask for the sign bits of ``y`` (what a consumer sign layer reads): ``y < 0``.
"""
from __future__ import annotations

import numpy as np

from schedules.common import conv_out_size, grouped_conv2d_f64, normalize_padding


def sign(x: np.ndarray) -> np.ndarray:
    """float32 ±1 of ``x`` with 0 (and NaN) -> +1."""
    return np.where(np.asarray(x) < 0, np.float32(-1), np.float32(1)).astype(np.float32)


def epilogue_constants(mult: np.ndarray, bias: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(m2, c)`` float32 of the contract: ``m2 = -2 * mult``, ``c = float32(bias + K * mult)`` (float64 sum)."""
    mult = np.asarray(mult, np.float32)
    m2 = (np.float32(-2) * mult).astype(np.float32)
    c = (np.asarray(bias, np.float32).astype(np.float64) + np.float64(k) * mult.astype(np.float64)).astype(np.float32)
    return m2, c


def popcounts(x: np.ndarray, signs: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1),
              groups: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(pc1, S)`` int64 ``(N, O, Ho, Wo)``: differing taps with +1 padding, and the weights' sum over
    the out-of-image taps."""
    top, left, bottom, right = normalize_padding(padding)
    o_n, cg, kh, kw = signs.shape
    k = kh * kw * cg
    xs = np.pad(sign(x).astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=1.0)
    acc1 = grouped_conv2d_f64(xs, signs.astype(np.float64), strides=strides, dilation=dilation, groups=groups)
    outside = np.pad(np.zeros(x.shape, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=1.0)
    s = grouped_conv2d_f64(outside, signs.astype(np.float64), strides=strides, dilation=dilation, groups=groups)
    pc1 = (k - np.rint(acc1).astype(np.int64)) // 2
    return pc1, np.rint(s).astype(np.int64)


def xnor_conv2d(x: np.ndarray, signs: np.ndarray, mult: np.ndarray, bias: np.ndarray, *, strides=(1, 1), padding=0,
                dilation=(1, 1), groups: int = 1, pad_value: int = 1, acc_relu: bool = False, relu: bool = False,
                residual=None) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)``: the sign layer of the module docstring on float32 NCHW ``x`` with ±1
    OIHW ``signs``, per-channel ``mult`` and ``bias``."""
    if pad_value not in (0, 1):
        raise ValueError(f"pad_value must be 0 or 1, got {pad_value}")
    o_n, cg, kh, kw = signs.shape
    k = kh * kw * cg
    pc1, s = popcounts(x, signs, strides=strides, padding=padding, dilation=dilation, groups=groups)
    pc = pc1.astype(np.float32)
    if acc_relu:
        pc = np.minimum(pc, np.float32(k / 2))
    m2, c = epilogue_constants(mult, bias, k)
    y = (pc * m2.reshape(1, -1, 1, 1)).astype(np.float32) + c.reshape(1, -1, 1, 1)
    if pad_value == 0:
        y = y - (s.astype(np.float32) * np.asarray(mult, np.float32).reshape(1, -1, 1, 1)).astype(np.float32)
    y = y.astype(np.float32)
    if residual is not None:
        y = (y + np.asarray(residual, np.float32)).astype(np.float32)
    if relu:
        y = np.maximum(y, np.float32(0))
    return y


def out_size(h: int, w: int, kernel, strides, padding, dilation) -> tuple[int, int]:
    top, left, bottom, right = normalize_padding(padding)
    return (conv_out_size(h, kernel[0], strides[0], top, bottom, dilation[0]),
            conv_out_size(w, kernel[1], strides[1], left, right, dilation[1]))
