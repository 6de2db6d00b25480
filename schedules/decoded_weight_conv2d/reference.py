"""numpy twin of :mod:`schedules.decoded_weight_conv2d.compute`.

Weights are decoded to ±1 (binary words, LSB first) or ``float(wq)`` (int8), the grouped convolution
runs in float64 (``schedules.common.grouped_conv2d_f64``), then
``acc * scale[o] + bias[o]`` (float64), optional ReLU, one rounding to float32. The kernel
accumulates in float32, so compare with a tolerance.
"""
from __future__ import annotations

import numpy as np

from schedules.common import grouped_conv2d_f64


def _decode_binary(wb: np.ndarray, channels_per_group: int) -> np.ndarray:
    """``(O, KC, KH, KW)`` words -> float64 ±1 ``(O, Cg, KH, KW)``: bit ``i % P`` of word ``i // P``."""
    bits = np.dtype(wb.dtype).itemsize * 8
    i = np.arange(channels_per_group)
    words = wb[:, i // bits].astype(np.uint64)  # (O, Cg, KH, KW)
    set_bit = (words >> (i % bits).astype(np.uint64).reshape(1, -1, 1, 1)) & np.uint64(1)
    return np.where(set_bit == 1, 1.0, -1.0)


def decode_weights(w: np.ndarray, weight_format: str, channels_per_group: int) -> np.ndarray:
    """float64 ``(O, Cg, KH, KW)`` decoded weights of either format."""
    if weight_format == "binary":
        return _decode_binary(w, channels_per_group)
    if weight_format == "int8":
        return np.asarray(w, np.float64)
    raise ValueError(f"unknown weight_format {weight_format!r}")


def decoded_weight_conv2d(x: np.ndarray, w: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, weight_format: str,
                          channels_per_group: int, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1,
                          relu: bool = False) -> np.ndarray:
    """float32 ``(N, O, Ho, Wo)`` output of the decoded-weight conv contract (docs/numerics.md)."""
    wd = decode_weights(w, weight_format, channels_per_group)
    acc = grouped_conv2d_f64(x, wd, strides=strides, padding=padding, dilation=dilation, groups=groups)
    y = acc * np.asarray(scale, np.float64).reshape(1, -1, 1, 1) + np.asarray(bias, np.float64).reshape(1, -1, 1, 1)
    if relu:
        y = np.maximum(y, 0.0)
    return y.astype(np.float32)
