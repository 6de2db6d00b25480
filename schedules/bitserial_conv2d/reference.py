"""numpy twin of :mod:`schedules.bitserial_conv2d.compute`, from the mathematical definition.

The im2col words and the kernel-ready weights are unpacked to tap values ``qcol`` (uint8) and ``B``
(±1), then ``acc = sum_r qcol[r] * B[r]`` is an exact float64 matmul (every partial sum is an integer
far below 2^53), then the integer epilogue. :func:`grouped_conv2d_int` is the same conv from NCHW
``q`` and OIHW signs (the graph reference uses it on the stored weights).
"""
from __future__ import annotations

import numpy as np

from schedules.bitserial_conv2d.packing import unprepare_weights
from schedules.common import grouped_conv2d_f64, integer_epilogue_np
from schedules.quantize.reference import unpack_im2col


def grouped_conv2d_int(q: np.ndarray, signs: np.ndarray, *, strides, padding, dilation, groups: int) -> np.ndarray:
    """Exact integer grouped conv of NCHW ``q`` with OIHW ``signs``, int64 ``(N, O, Ho, Wo)``."""
    acc = grouped_conv2d_f64(q, signs, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return np.rint(acc).astype(np.int64)


def bitserial_accumulate(xcol: np.ndarray, wk: np.ndarray) -> np.ndarray:
    """int64 ``acc[n, o, y, x] = sum_r qcol[r] * B[r]`` from the im2col words (padding bits of ``xcol`` are 0)."""
    qcol = unpack_im2col(xcol).astype(np.float64)  # (N, G, Ho, Wo, KR*P)
    n, groups, ho, wo, r = qcol.shape
    signs = unprepare_weights(wk).astype(np.float64)  # (O, KR*P)
    og = signs.shape[0] // groups
    acc = np.einsum("ngyxr,gor->ngoyx", qcol, signs.reshape(groups, og, r), optimize=True)
    return np.rint(acc).astype(np.int64).reshape(n, groups * og, ho, wo)


def bitserial_conv2d(xcol: np.ndarray, wk: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, relu: bool,
                     residual=None) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the bitserial conv contract (docs/numerics.md)."""
    return integer_epilogue_np(bitserial_accumulate(xcol, wk), scale, offset, relu, residual)
