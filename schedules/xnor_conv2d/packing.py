"""Kernel-ready constants of ``xnor_conv2d`` (numpy, compile time).

- Weights: ``wk[ob, t * RW + k, j]`` int32 (``ob < O / tile_o``, ``j < tile_o``, tap ``t = ky * KW + kx``,
  ``k < RW = ceil(Cg / 32)``): bit ``b`` is 1 iff ``B[ob * tile_o + j, 32 k + b, ky, kx] = -1`` (the
  activations' convention of :mod:`schedules.bit_layout`); bits past ``Cg`` are 0, so a padded channel
  never differs.
- Zero-padding correction (``pad_value = 0``): ``corr[o, cy, x]`` float32 ``float32(float32(S) * mult[o])``
  for the output rows of class ``cy`` (``rowcls[y]``: output rows whose out-of-image vertical taps are
  the same share a class) and output column ``x`` (padded to ``width`` columns with 0), where ``S`` is
  the sum of the ±1 weights over that pixel's out-of-image taps.
"""
from __future__ import annotations

import numpy as np

from schedules.bit_layout import BITS, words_per_group
from schedules.common import normalize_padding


def prepare_weights(signs: np.ndarray, tile_o: int) -> np.ndarray:
    """int32 ``wk (O / tile_o, KH * KW * RW, tile_o)`` from ±1 OIHW ``signs``."""
    signs = np.asarray(signs)
    o_n, cg, kh, kw = signs.shape
    if o_n % tile_o:
        raise ValueError(f"xnor_conv2d: tile_o {tile_o} must divide O = {o_n}")
    rw = words_per_group(cg)
    neg = np.zeros((o_n, kh, kw, rw * BITS), np.uint8)
    neg[..., :cg] = np.moveaxis(signs < 0, 1, -1)
    words = np.packbits(neg, axis=-1, bitorder="little").view("<i4").reshape(o_n, kh * kw * rw)
    return np.ascontiguousarray(words.reshape(o_n // tile_o, tile_o, -1).transpose(0, 2, 1)).astype(np.int32)


def _inside(size_in: int, size_out: int, k: int, s: int, d: int, before: int) -> np.ndarray:
    """``(size_out, k)`` bool: tap ``t`` of output ``y`` reads an in-image position."""
    pos = np.arange(size_out)[:, None] * s + np.arange(k)[None, :] * d - before
    return (pos >= 0) & (pos < size_in)


def padding_correction(signs: np.ndarray, mult: np.ndarray, h: int, w: int, ho: int, wo: int, *, strides, padding,
                       dilation, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(corr float32 (O, NCY, width), rowcls int32 (Ho,))`` of the module docstring."""
    top, left, _, _ = normalize_padding(padding)
    o_n, cg, kh, kw = signs.shape
    in_y = _inside(h, ho, kh, strides[0], dilation[0], top)  # (Ho, KH)
    in_x = _inside(w, wo, kw, strides[1], dilation[1], left)  # (Wo, KW)
    classes, rowcls = [], np.zeros(ho, np.int32)
    for y in range(ho):
        key = tuple(in_y[y])
        if key not in classes:
            classes.append(key)
        rowcls[y] = classes.index(key)
    wsum = np.asarray(signs, np.int64).sum(axis=1)  # (O, KH, KW)
    total = wsum.sum(axis=(1, 2))
    corr = np.zeros((o_n, len(classes), width), np.float32)
    m = np.asarray(mult, np.float32)
    for cy, key in enumerate(classes):
        iy = np.array(key, np.int64)
        inside_sum = np.einsum("oyx,y,wx->ow", wsum, iy, in_x.astype(np.int64))  # (O, Wo)
        s = total[:, None] - inside_sum
        corr[:, cy, :wo] = (s.astype(np.float32) * m[:, None]).astype(np.float32)
    return corr, rowcls
