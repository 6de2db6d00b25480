"""numpy twin of :mod:`schedules.float_conv2d_exact.compute`: the grouped convolution in float64
(``schedules.common.grouped_conv2d_f64``), plus the float64 bias, one rounding to
float32, then the optional ReLU."""
from __future__ import annotations

import numpy as np

from schedules.common import grouped_conv2d_f64


def float_conv2d_exact(x: np.ndarray, w: np.ndarray, bias: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1),
                       groups: int = 1, relu: bool = False) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the exact float conv contract (docs/numerics.md)."""
    acc = grouped_conv2d_f64(
        np.asarray(x, np.float32), np.asarray(w, np.float32),
        strides=strides, padding=padding, dilation=dilation, groups=groups,
    )
    y = (acc + np.asarray(bias, np.float32).astype(np.float64).reshape(1, -1, 1, 1)).astype(np.float32)
    if relu:
        y = np.maximum(y, np.float32(0))
    return y
