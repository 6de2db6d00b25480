"""numpy twins of :mod:`schedules.quantize.compute` (docs/numerics.md), written with numpy bit ops.

Words are built and read through little-endian bytes (``np.packbits(..., bitorder="little")``): bit
``j`` of a word is byte ``j // 8``, bit ``j % 8``.
"""
from __future__ import annotations

import numpy as np

from schedules.common import PACK_DTYPES, num_words


def _scalar_f32(value) -> np.float32:
    return np.float32(np.asarray(value, dtype=np.float32).reshape(-1)[0])


def quantize(x: np.ndarray, inv_scale, lo: int, hi: int, out_dtype) -> np.ndarray:
    """``clip(rint(float32(x) * float32(inv_scale)), lo, hi)`` as ``out_dtype`` (half to even)."""
    v = np.rint(np.asarray(x).astype(np.float32) * _scalar_f32(inv_scale))
    return np.clip(v, np.float32(lo), np.float32(hi)).astype(out_dtype)


def bitpack(q: np.ndarray, bits: int, groups: int, pack_bits: int) -> np.ndarray:
    """Unsigned NCHW ``q`` (values < 2^bits) -> ``(N, G, KC, bits, H, W)`` words of ``pack_bits``."""
    n, c, h, w = q.shape
    cg = c // groups
    kc = num_words(cg, pack_bits)
    qg = np.zeros((n, groups, kc * pack_bits, h, w), np.uint8)
    qg[:, :, :cg] = q.reshape(n, groups, cg, h, w)
    planes = np.stack([(qg >> a) & 1 for a in range(bits)], axis=2)  # (N, G, A, KC*P, H, W)
    planes = np.moveaxis(planes, 3, -1)  # (N, G, A, H, W, KC*P)
    packed = np.packbits(planes, axis=-1, bitorder="little")  # (N, G, A, H, W, KC*P/8)
    words = np.ascontiguousarray(packed).view(f"<u{pack_bits // 8}")  # (N, G, A, H, W, KC)
    return np.ascontiguousarray(np.moveaxis(words, -1, 2)).astype(PACK_DTYPES[pack_bits])


def unpack_bits(xp: np.ndarray, channels_per_group: int) -> np.ndarray:
    """Inverse of :func:`bitpack`: ``(N, G, KC, A, H, W)`` words -> uint8 NCHW ``q``."""
    n, g, kc, bits, h, w = xp.shape
    nbytes = xp.dtype.itemsize
    words = np.ascontiguousarray(np.moveaxis(xp, 2, -1)).astype(f"<u{nbytes}")  # (N, G, A, H, W, KC)
    planes = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[..., :channels_per_group]
    weights = (1 << np.arange(bits, dtype=np.uint16)).reshape(1, 1, bits, 1, 1, 1)
    q = (planes.astype(np.uint16) * weights).sum(axis=2).astype(np.uint8)  # (N, G, H, W, Cg)
    return np.ascontiguousarray(np.moveaxis(q, -1, 2)).reshape(n, g * channels_per_group, h, w)


def quantize_bitpack(x: np.ndarray, inv_scale, bits: int, groups: int, pack_bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit quantization of NCHW ``x`` then :func:`bitpack`."""
    q = quantize(x, inv_scale, 0, (1 << bits) - 1, np.uint8)
    return bitpack(q, bits, groups, pack_bits)
