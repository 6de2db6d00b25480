"""Symmetric per-output-channel int8 weight quantization (numpy, docs/numerics.md).

``ws[o] = max|W[o]| / 127`` (float32) and ``wq = clip(rint(W / ws[o]), -127, 127)`` (int8,
round half to even). An all-zero filter gets ``ws[o] = 0`` and ``wq[o] = 0``.
"""
from __future__ import annotations

import numpy as np


def quantize_weights_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(O, Cg, KH, KW)`` weights -> ``(wq int8 (O, Cg, KH, KW), ws float32 (O,))``."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"expected OIHW weights, got shape {w.shape}")
    ws = (np.abs(w).reshape(w.shape[0], -1).max(axis=1) / np.float32(127)).astype(np.float32)
    div = ws.reshape(-1, 1, 1, 1)
    ratio = np.divide(w, div, out=np.zeros_like(w), where=div > 0)
    wq = np.clip(np.rint(ratio), -127, 127).astype(np.int8)
    return wq, ws


def prepare_weights(wq: np.ndarray, plan) -> np.ndarray:
    """Kernel-ready weights for ``plan`` (``schedules.int8_conv2d.kernel.int8_conv2d_weight_plan``).

    ``plan`` None: the stored OIHW ``wq`` itself. ``{"layout": "pairs", "tile_o": T}`` (1x1 weights):
    int32 ``wk[ob, r, j]`` holding the int16 pair ``(wq[ob*T + j, 2r], wq[ob*T + j, 2r + 1])`` (low
    half first; the partner of an odd last channel is 0), ``ob < O / T``, ``r < ceil(Cg / 2)``.
    """
    wq = np.asarray(wq)
    if plan is None:
        return wq
    if plan.get("layout") != "pairs":
        raise ValueError(f"unknown int8 weight layout {plan!r}")
    o_n, cg, kh, kw = wq.shape
    if (kh, kw) != (1, 1) or wq.dtype != np.int8:
        raise ValueError(f"pairs layout wants int8 1x1 weights, got {wq.dtype} {wq.shape}")
    tile_o = int(plan["tile_o"])
    r2 = (cg + 1) // 2
    w16 = np.zeros((o_n, 2 * r2), np.int16)
    w16[:, :cg] = wq[:, :, 0, 0]
    w32 = w16.astype("<i2").view("<i4").reshape(o_n // tile_o, tile_o, r2)
    return np.ascontiguousarray(w32.transpose(0, 2, 1)).astype(np.int32)
