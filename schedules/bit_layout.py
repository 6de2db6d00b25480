"""Packed sign bits in the padded pixel domain of :mod:`schedules.word_layout` (numpy only).

What a producer writes for a consumer *sign layer* (±1 activations, docs/numerics.md "Sign layers"):

- **Bits rows** (``int32``): ``bits[n, r, i]`` with ``r < G * RW`` words per pixel, ``RW = ceil(Cg / 32)``
  words per group of ``Cg`` channels (the consumer's grouping), at the row index ``i`` of a
  :class:`schedules.word_layout.Domain` (``index = pad + (y + pad) * Wp + (x + pad)``). Bit ``j`` (LSB
  first) of word ``g * RW + k`` is 1 iff channel ``g * Cg + 32 k + j`` of that pixel is negative (sign
  -1; 0 and NaN give bit 0 = +1): LCE's convention (bit 1 = -1, 32 channels per int32, LSB first), so a
  bitpacked LCE tensor is the interior of such rows when ``G = 1``. Bits past ``Cg`` in a group's last
  word are 0.
- **Halo** pixels hold 0 = +1: Larq's ``pad_values=1`` is the halo itself; zero padding is a correction
  in the consumer's epilogue (``schedules/xnor_conv2d``). Guards and slack are unspecified.

Words of 32 channels (this module) and words of 4 channels' bytes (:mod:`schedules.word_layout`) share
the domain and its index, so a layer's input is addressed the same way whichever format it reads.
"""
from __future__ import annotations

import numpy as np

from schedules.word_layout import Domain, from_padded, to_padded

BITS = 32  # channels per int32 word


def words_per_group(cg: int) -> int:
    return -(-cg // BITS)


def pack_sign_bits(x: np.ndarray, groups: int = 1) -> np.ndarray:
    """float NCHW -> int32 ``(N, G * RW, H, W)`` words (bit 1 = negative), per group, LSB first."""
    n, c, h, w = x.shape
    cg = c // groups
    rw = words_per_group(cg)
    neg = np.zeros((n, groups, rw * BITS, h, w), np.uint8)
    neg[:, :, :cg] = (np.asarray(x) < 0).reshape(n, groups, cg, h, w)
    by = np.packbits(np.moveaxis(neg, 2, -1), axis=-1, bitorder="little")  # (N, G, H, W, RW*4)
    words = np.ascontiguousarray(by).view("<i4")  # (N, G, H, W, RW)
    return np.ascontiguousarray(np.moveaxis(words, -1, 2)).reshape(n, groups * rw, h, w)


def unpack_sign_bits(words: np.ndarray, channels: int, groups: int = 1) -> np.ndarray:
    """Inverse of :func:`pack_sign_bits`: int32 ``(N, G * RW, H, W)`` -> float32 ±1 NCHW."""
    n, r, h, w = words.shape
    cg = channels // groups
    rw = r // groups
    by = np.ascontiguousarray(np.moveaxis(words.reshape(n, groups, rw, h, w), 2, -1)).astype("<i4").view(np.uint8)
    bits = np.unpackbits(by, axis=-1, bitorder="little")[..., :cg]  # (N, G, H, W, Cg)
    signs = 1.0 - 2.0 * np.moveaxis(bits, -1, 2).astype(np.float32)
    return signs.reshape(n, channels, h, w).astype(np.float32)


def to_bits(x: np.ndarray, domain: Domain, groups: int = 1) -> np.ndarray:
    """float NCHW -> bits rows ``(N, G * RW, length)`` of ``domain`` (halo 0 = +1)."""
    return to_padded(pack_sign_bits(x, groups), domain)


def from_bits(rows: np.ndarray, domain: Domain, channels: int, groups: int = 1) -> np.ndarray:
    """bits rows -> float32 ±1 NCHW of the interior pixels."""
    return unpack_sign_bits(from_padded(rows, domain), channels, groups)
