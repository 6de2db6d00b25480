"""Binary weight packing (numpy): sign tensors <-> ``(O, KC, KH, KW)`` words (docs/numerics.md).

Bit ``j`` (LSB first) of ``wb[o, kc, ky, kx]`` is 1 iff ``B[o, kc*P + j, ky, kx] = +1``; bit 0 means
-1; bits past ``Cg`` are 0. Words go through little-endian bytes (``np.packbits(bitorder="little")``).
"""
from __future__ import annotations

import numpy as np

from schedules.common import PACK_DTYPES, num_words


def pack_weights(signs: np.ndarray, pack_bits: int) -> np.ndarray:
    """``(O, Cg, KH, KW)`` signs (entries ``>= 0`` count as +1) -> ``(O, KC, KH, KW)`` words."""
    o, cg, kh, kw = signs.shape
    kc = num_words(cg, pack_bits)
    bits = np.zeros((o, kh, kw, kc * pack_bits), np.uint8)
    bits[..., :cg] = np.moveaxis(np.asarray(signs) >= 0, 1, -1)
    words = np.packbits(bits, axis=-1, bitorder="little").view(f"<u{pack_bits // 8}")  # (O, KH, KW, KC)
    return np.ascontiguousarray(np.moveaxis(words, -1, 1)).astype(PACK_DTYPES[pack_bits])


def unpack_weights(wb: np.ndarray, channels_per_group: int) -> np.ndarray:
    """Inverse of :func:`pack_weights`: ``(O, KC, KH, KW)`` words -> int8 ±1 ``(O, Cg, KH, KW)``."""
    words = np.ascontiguousarray(np.moveaxis(wb, 1, -1)).astype(f"<u{wb.dtype.itemsize}")
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[..., :channels_per_group]
    signs = bits.astype(np.int8) * 2 - 1
    return np.ascontiguousarray(np.moveaxis(signs, -1, 1))
