"""numpy twin of :mod:`schedules.bitserial_conv2d.compute`, from the mathematical definition.

The im2col words and the kernel-ready weights are unpacked to tap values ``qcol`` (uint8) and ``B``
(±1), then ``acc = sum_r qcol[r] * B[r]`` is an exact float64 matmul (every partial sum is an integer
far below 2^53), then the integer epilogue. :func:`grouped_conv2d_int` is the same conv from NCHW
``q`` and OIHW signs (the graph reference uses it on the stored weights).
"""
from __future__ import annotations

import numpy as np

from schedules.bitserial_conv2d.packing import unprepare_weights
from schedules.common import conv_out_size, integer_epilogue_np, normalize_padding
from schedules.quantize.reference import unpack_im2col


def grouped_conv2d_int(q: np.ndarray, signs: np.ndarray, *, strides, padding, dilation, groups: int) -> np.ndarray:
    """Exact integer grouped conv of NCHW ``q`` with OIHW ``signs``, int64 ``(N, O, Ho, Wo)``."""
    n, c, h, w = q.shape
    o_n, cg, kh, kw = signs.shape
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, top, bottom, dh)
    wo = conv_out_size(w, kw, sw, left, right, dw)
    qp = np.pad(q.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = np.empty((n, c, kh, kw, ho, wo), np.float64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            cols[:, :, ky, kx] = qp[:, :, y0 : y0 + sh * (ho - 1) + 1 : sh, x0 : x0 + sw * (wo - 1) + 1 : sw]
    cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
    og = o_n // groups
    wmat = signs.astype(np.float64).reshape(groups, og, cg * kh * kw)
    acc = np.matmul(wmat[None], cols)  # (N, G, Og, Ho*Wo)
    return np.rint(acc).astype(np.int64).reshape(n, o_n, ho, wo)


def bitserial_accumulate(xcol: np.ndarray, wk: np.ndarray) -> np.ndarray:
    """int64 ``acc[n, o, y, x] = sum_r qcol[r] * B[r]`` from the im2col words (padding bits of ``xcol`` are 0)."""
    qcol = unpack_im2col(xcol).astype(np.float64)  # (N, G, Ho, Wo, KR*P)
    n, groups, ho, wo, r = qcol.shape
    signs = unprepare_weights(wk).astype(np.float64)  # (O, KR*P)
    og = signs.shape[0] // groups
    acc = np.einsum("ngyxr,gor->ngoyx", qcol, signs.reshape(groups, og, r), optimize=True)
    return np.rint(acc).astype(np.int64).reshape(n, groups * og, ho, wo)


def bitserial_conv2d(xcol: np.ndarray, wk: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, relu: bool) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the bitserial conv contract (docs/numerics.md)."""
    return integer_epilogue_np(bitserial_accumulate(xcol, wk), scale, offset, relu)
