"""numpy twin of :mod:`schedules.int8_conv2d.compute`, plus the grouped float64 convolution that
the other float references share.

:func:`grouped_conv2d_f64` is im2col + a float64 matmul per group. For integer inputs it is exact
(every product and partial sum is an integer far below 2^53), so the int8 accumulator is rounded
back to int64 and fed to ``schedules.common.integer_epilogue_np``.
"""
from __future__ import annotations

import numpy as np

from schedules.common import conv_out_size, integer_epilogue_np, normalize_padding


def grouped_conv2d_f64(x: np.ndarray, w: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """float64 ``(N, O, Ho, Wo)`` grouped convolution of NCHW ``x`` with OIHW ``w`` (zero padding,
    ``padding = (top, left, bottom, right)``), all arithmetic in float64."""
    n, c, h, wd = x.shape
    o_n, cg, kh, kw = w.shape
    if c != cg * groups or o_n % groups:
        raise ValueError(f"inconsistent conv shapes: x {x.shape}, w {w.shape}, groups {groups}")
    sh, sw = (int(s) for s in strides)
    dh, dw = (int(d) for d in dilation)
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, top, bottom, dh)
    wo = conv_out_size(wd, kw, sw, left, right, dw)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = np.empty((n, c, kh, kw, ho, wo), np.float64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            cols[:, :, ky, kx] = xp[:, :, y0 : y0 + sh * (ho - 1) + 1 : sh, x0 : x0 + sw * (wo - 1) + 1 : sw]
    cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
    wmat = np.asarray(w, np.float64).reshape(groups, o_n // groups, cg * kh * kw)
    return np.matmul(wmat[None], cols).reshape(n, o_n, ho, wo)


def int8_accumulate(xq: np.ndarray, wq: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """Exact int64 accumulator ``sum int(xq) * int(wq)`` of the grouped convolution."""
    acc = grouped_conv2d_f64(xq, wq, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return np.rint(acc).astype(np.int64)


def int8_conv2d(xq: np.ndarray, wq: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1, relu: bool = False) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the int8 conv contract (docs/numerics.md)."""
    acc = int8_accumulate(xq, wq, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return integer_epilogue_np(acc, scale, offset, relu)
