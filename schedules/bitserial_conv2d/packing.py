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


def prepare_weights(wb: np.ndarray, channels_per_group: int, pack_bits: int = 64) -> np.ndarray:
    """Stored ``wb (O, KC, KH, KW)`` -> kernel-ready ``wk (O, KR)`` words of ``pack_bits`` (32 or 64).

    Bit ``j`` of ``wk[o, kr]`` is 1 iff ``B[o, c, ky, kx] = +1`` with ``kr*P + j = (ky*KW + kx)*Cg + c``
    (the im2col tap order of ``quantize_bitpack_im2col``); bits past ``KH*KW*Cg`` are 0.
    """
    signs = unpack_weights(wb, channels_per_group)  # (O, Cg, KH, KW)
    o, cg, kh, kw = signs.shape
    r = kh * kw * cg
    kr = num_words(r, pack_bits)
    bits = np.zeros((o, kr * pack_bits), np.uint8)
    bits[:, :r] = (np.moveaxis(signs, 1, -1) > 0).reshape(o, r)  # (O, KH, KW, Cg) -> r = (ky*KW + kx)*Cg + c
    words = np.packbits(bits, axis=-1, bitorder="little").view(f"<u{pack_bits // 8}")
    return np.ascontiguousarray(words).astype(PACK_DTYPES[pack_bits])


def unprepare_weights(wk: np.ndarray) -> np.ndarray:
    """``wk (O, KR)`` -> its ``(O, KR*P)`` bits as int8 ±1 (padding bits come out as -1)."""
    words = np.ascontiguousarray(wk).astype(f"<u{wk.dtype.itemsize}")
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")
    return bits.astype(np.int8) * 2 - 1
