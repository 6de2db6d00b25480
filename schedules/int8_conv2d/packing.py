"""Symmetric per-output-channel int8 weight quantization (numpy, docs/numerics.md).

``ws[o] = max|W[o]| / 127`` (float32) and ``wq = clip(rint(W / ws[o]), -127, 127)`` (int8,
round half to even). An all-zero filter gets ``ws[o] = 0`` and ``wq[o] = 0``.
"""
from __future__ import annotations

import numpy as np

#: channel-word layouts (schedules.int8_conv2d.channel_words): name -> (channels per int32 word,
#: whether uint8 activations enter shifted by UNSIGNED_SHIFT, with the weight-sum correction row)
WORD_LAYOUTS = {"pairs": (2, False), "quads": (4, True)}
UNSIGNED_SHIFT = 128


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

    ``plan`` None: the stored OIHW ``wq`` itself. A channel-word plan (1x1 weights, ``K`` channels per
    int32 word: ``{"layout": "pairs", "tile_o": T}`` K=2 as int16 halves, ``"quads"`` K=4 as bytes;
    channel ``K*r`` in the lowest field, channels past ``Cg`` are 0): int32 ``wk[ob, r, j]`` = the word
    of ``wq[ob*T + j, K*r .. K*r + K-1]``, ``ob < O / T``, ``r < ceil(Cg / K)``; ``"quads"`` adds a row
    ``r = ceil(Cg / K)`` holding ``128 * sum_c wq[ob*T + j, c]`` (the uint8 shift correction of sdot,
    ``schedules.int8_conv2d.channel_words``).
    """
    wq = np.asarray(wq)
    if plan is None:
        return wq
    layout = plan.get("layout")
    if layout not in WORD_LAYOUTS:
        raise ValueError(f"unknown int8 weight layout {plan!r}")
    k, shifted = WORD_LAYOUTS[layout]
    o_n, cg, kh, kw = wq.shape
    if (kh, kw) != (1, 1) or wq.dtype != np.int8:
        raise ValueError(f"{layout} layout wants int8 1x1 weights, got {wq.dtype} {wq.shape}")
    tile_o = int(plan["tile_o"])
    rn = -(-cg // k)
    narrow = np.zeros((o_n, k * rn), f"<i{4 // k}")
    narrow[:, :cg] = wq[:, :, 0, 0]
    words = narrow.view("<i4").reshape(o_n, rn).astype(np.int32)
    if shifted:
        correction = UNSIGNED_SHIFT * wq[:, :, 0, 0].astype(np.int32).sum(axis=1, keepdims=True)
        words = np.concatenate([words, correction.astype(np.int32)], axis=1)
    blocked = words.reshape(o_n // tile_o, tile_o, words.shape[1])
    return np.ascontiguousarray(blocked.transpose(0, 2, 1)).astype(np.int32)
