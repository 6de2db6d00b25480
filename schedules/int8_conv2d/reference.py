"""numpy twin of :mod:`schedules.int8_conv2d.compute`.

:func:`schedules.common.grouped_conv2d_f64` is im2col + a float64 matmul per group. For integer inputs it is exact
(every product and partial sum is an integer far below 2^53), so the int8 accumulator is rounded
back to int64 and fed to ``schedules.common.integer_epilogue_np``.
"""
from __future__ import annotations

import numpy as np

from schedules.common import grouped_conv2d_f64, integer_epilogue_np


def int8_accumulate(xq: np.ndarray, wq: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """Exact int64 accumulator ``sum int(xq) * int(wq)`` of the grouped convolution."""
    acc = grouped_conv2d_f64(xq, wq, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return np.rint(acc).astype(np.int64)


def int8_conv2d(xq: np.ndarray, wq: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, strides=(1, 1), padding=0,
                dilation=(1, 1), groups: int = 1, relu: bool = False, residual=None) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the int8 conv contract (docs/numerics.md)."""
    acc = int8_accumulate(xq, wq, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return integer_epilogue_np(acc, scale, offset, relu, residual)
