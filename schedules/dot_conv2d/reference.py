"""numpy twin of ``dot_conv2d`` (the contract; layouts are the kernel's business, see
:mod:`schedules.word_layout`).

Input: NCHW codes ``xq`` (uint8 or int8; or float32 ``x`` with an input quantizer, quantized as
``schedules.quantize`` does); int8 OIHW weights; a grouped, stride-1, zero-padded convolution with an
exact integer accumulator; the integer epilogue of docs/numerics.md (``(float32(acc) + offset) * scale``,
the residual added after, then ReLU). Outputs, one per requested spec:

- ``("float32",)``: the float32 NCHW epilogue result;
- ``("codes", lo, hi, dtype, inv_scale)``: that result quantized for a consumer:
  ``clip(rint(y * inv_scale), lo, hi)`` as ``dtype`` (float32 arithmetic, round half to even).
"""
from __future__ import annotations

import numpy as np

from schedules.common import integer_epilogue_np
from schedules.int8_conv2d.reference import int8_accumulate
from schedules.quantize.reference import quantize


def dot_conv2d(xq: np.ndarray, wq: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, padding: int = 0, groups: int = 1,
               relu: bool = False, residual=None, outputs=(("float32",),), in_quantizer=None) -> list[np.ndarray]:
    """The outputs of the contract above (``in_quantizer = (lo, hi, dtype, inv_scale)`` quantizes a
    float32 ``xq`` first)."""
    if in_quantizer is not None:
        lo, hi, dtype, inv = in_quantizer
        xq = quantize(xq, np.float32(inv), lo, hi, dtype)
    acc = int8_accumulate(xq, wq, padding=padding, groups=groups)
    y = integer_epilogue_np(acc, scale, offset, relu, residual)
    out = []
    for spec in outputs:
        if spec[0] == "float32":
            out.append(y)
        elif spec[0] == "codes":
            _, lo, hi, dtype, inv = spec
            out.append(quantize(y, np.float32(inv), lo, hi, dtype))
        else:
            raise ValueError(f"unknown dot_conv2d output {spec!r}")
    return out
