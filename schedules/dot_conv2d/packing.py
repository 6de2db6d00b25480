"""Kernel-ready weights of ``dot_conv2d`` (numpy, compile time).

From int8 OIHW weights ``wq (O, Cg, KH, KW)`` (per group ``Cg = C / groups`` input channels, a multiple
of 4): ``wk[ob, row, j]`` int32 with ``ob < O / tile_o``, ``j < tile_o``, and rows

- ``row = t * R + r`` (``t = ky * KW + kx`` the tap, ``r < R = Cg / 4``): the word of
  ``wq[ob*tile_o + j, 4r .. 4r+3, ky, kx]`` (channel ``4r`` in the lowest byte);
- ``row = KH * KW * R`` (the last): the accumulator's start value ``-shift * sum_{c, ky, kx} wq[o, c, ky, kx]``
  for kernels whose instruction takes the activations shifted by ``shift`` (``x ^ 0x80`` per byte:
  ``+128`` for int8 codes into an unsigned operand, ``-128`` for uint8 into a signed one), else 0.

``pair_sums_fit_int16`` tells whether ``vpmaddubsw`` (uint8 x int8 pairs summed in int16, saturating)
is exact for these weights: ``255 * (|w_a| + |w_b|) <= 32767`` for every pair of channels it adds
(channels ``4r, 4r+1`` and ``4r+2, 4r+3`` of a word). Always true for ±1 weights.
"""
from __future__ import annotations

import numpy as np

WORD = 4


def prepare_weights(wq: np.ndarray, tile_o: int, shift: int = 0) -> np.ndarray:
    """int32 ``wk (O / tile_o, KH*KW*R + 1, tile_o)`` (see the module docstring)."""
    wq = np.asarray(wq)
    if wq.dtype != np.int8 or wq.ndim != 4:
        raise ValueError(f"dot_conv2d wants int8 OIHW weights, got {wq.dtype} {wq.shape}")
    o_n, cg, kh, kw = wq.shape
    if cg % WORD or o_n % tile_o:
        raise ValueError(f"dot_conv2d wants Cg a multiple of {WORD} and O a multiple of tile_o, got {wq.shape}, tile_o {tile_o}")
    r_n = cg // WORD
    taps = np.ascontiguousarray(wq.transpose(0, 2, 3, 1)).reshape(o_n, kh * kw, r_n, WORD)  # (O, tap, r, byte)
    words = taps.view("<i4").reshape(o_n, kh * kw * r_n).astype(np.int32)
    start = (-shift * wq.astype(np.int64).reshape(o_n, -1).sum(axis=1)).astype(np.int32).reshape(o_n, 1)
    rows = np.concatenate([words, start], axis=1)
    blocked = rows.reshape(o_n // tile_o, tile_o, rows.shape[1])
    return np.ascontiguousarray(blocked.transpose(0, 2, 1))


def pair_sums_fit_int16(wq: np.ndarray) -> bool:
    """Whether uint8 x ``wq`` pair sums (adjacent channel pairs of a word) never saturate int16."""
    a = np.abs(np.asarray(wq, np.int32))
    o_n, cg, kh, kw = a.shape
    if cg % 2:
        return False
    pairs = a.reshape(o_n, cg // 2, 2, kh, kw).sum(axis=2)
    return bool(255 * int(pairs.max(initial=0)) <= 32767)
