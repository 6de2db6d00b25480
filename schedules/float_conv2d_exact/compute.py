"""TE compute of the exact float conv2d: float32 in and out, float64 products and sums.

Contract (docs/numerics.md):

- ``x[n, c, h, w]``: float32 activations, NCHW (``C = groups * Cg``); ``w[o, i, ky, kx]``: float32
  weights, OIHW with ``I = Cg``; output channel ``o`` belongs to group ``g = o // (O / groups)``.
- ``acc[n, o, y, x]`` (float64) ``= sum_{i, ky, kx} float64(x[n, g*Cg + i, y*sh + ky*dh - top,
  x*sw + kx*dw - left]) * float64(w[o, i, ky, kx])``; taps outside the input read 0 (zero padding,
  ``padding = (top, left, bottom, right)``). Every product is exact in float64 (24 + 24 bits), so a
  fused multiply-add changes nothing; only the summation order is free.
- ``out[n, o, y, x] = float32(acc + float64(bias[o]))``: one rounding to float32, then
  ``max(., 0)`` with ``relu`` (after the rounding).

Used for the float convs of a quantized pipeline: their outputs feed quantizers, and TVM and numpy
agree bit for bit unless a float64 sum lands within its own rounding error of a float32 tie.
Stages: ``pad`` (only with non-zero padding), ``acc``, ``out``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.int8_conv2d.compute import grouped_conv_sum


def float_conv2d_exact(x: te.Tensor, w: te.Tensor, bias: te.Tensor, *, strides=(1, 1), padding=0, dilation=(1, 1),
                       groups: int = 1, relu: bool = False) -> te.Tensor:
    """float32 ``(N, O, Ho, Wo)`` of the contract above; ``bias`` is float32 ``(O,)``."""
    if x.dtype != "float32" or w.dtype != "float32":
        raise ValueError(f"float_conv2d_exact wants float32 activations and weights, got {x.dtype} and {w.dtype}")
    acc = grouped_conv_sum(
        x, w.shape, lambda oo, ii, yy, xx: w[oo, ii, yy, xx],
        lambda xv, wv: xv.astype("float64") * wv.astype("float64"),
        strides=strides, padding=padding, dilation=dilation, groups=groups,
    )

    def epilogue(nn, oo, yy, xx):
        y = (acc[nn, oo, yy, xx] + bias[oo].astype("float64")).astype("float32")
        return tirx.max(y, tirx.const(0.0, "float32")) if relu else y

    return te.compute(acc.shape, epilogue, name="out")
