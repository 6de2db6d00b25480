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
