"""Packing of a dense layer's constant weights for :mod:`schedules.float_dense_exact` (numpy only).

``W`` is the ``(K, M)`` matrix of ``y = x @ W``. The kernel reads it as ``wp[Mp / T, K, T]`` with
``wp[j, k, t] = W[k, j * T + t]`` (zero past column ``M``; ``Mp`` is ``M`` rounded up to a multiple of
``T``): a task owns ``T`` output columns (whole vectors of float64 accumulators) and reads its weights as
one contiguous stream, ``T`` floats per input feature.
"""
from __future__ import annotations

import numpy as np


def dense_tile(m: int, want: int, lanes: int) -> int:
    """Output columns per task: ``want`` (whole vectors of ``lanes``), or ``m`` rounded up to whole
    vectors if that is fewer."""
    vectors = -(-min(m, want) // lanes)
    return max(1, vectors) * lanes


def padded_columns(m: int, tile: int) -> int:
    """``m`` rounded up to a multiple of ``tile``: the packed weights' columns."""
    return -(-m // tile) * tile


def pack_dense_weights(w: np.ndarray, tile: int) -> np.ndarray:
    """``(K, M)`` float32 -> ``(Mp / tile, K, tile)`` float32, zero past column ``M`` (layout above)."""
    w = np.asarray(w, np.float32)
    k, m = w.shape
    mp = padded_columns(m, tile)
    padded = np.zeros((k, mp), np.float32)
    padded[:, :m] = w
    return np.ascontiguousarray(padded.reshape(k, mp // tile, tile).transpose(1, 0, 2))
