"""numpy twin of :mod:`schedules.float_dense_exact.compute`: ``x @ W`` in float64, plus the float64 bias,
one rounding to float32 (``W`` unpacked, ``(K, M)``)."""
from __future__ import annotations

import numpy as np


def float_dense_exact(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """float32 ``(P, M)`` of the exact dense contract for ``x`` float32 ``(P, K)``, ``w`` float32 ``(K, M)``."""
    acc = np.asarray(x, np.float32).astype(np.float64) @ np.asarray(w, np.float32).astype(np.float64)
    return (acc + np.asarray(bias, np.float32).astype(np.float64)).astype(np.float32)
