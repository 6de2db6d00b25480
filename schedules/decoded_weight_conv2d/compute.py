"""TE compute of the decoded-weight conv2d: float32 activations x low-bit weights decoded in registers.

Contract (docs/numerics.md):

- ``x[n, c, h, w]``: float32 activations, NCHW (``C = groups * Cg``, ``Cg = channels_per_group``).
- ``w``: the weights of output channel ``o`` (group ``g = o // (O / groups)``, input channels
  ``g*Cg .. g*Cg + Cg - 1``), in one of two formats:

  - ``"binary"``: packed words ``wb[o, kc, ky, kx]`` (dtype P in ``PACK_DTYPES``, ``Pbits`` bits,
    ``KC = ceil(Cg / Pbits)``); input channel ``i`` of the group is bit ``i % Pbits`` (LSB first) of
    word ``i // Pbits``, decoded as ``+1.0`` if set else ``-1.0``;
  - ``"int8"``: ``wq[o, i, ky, kx]`` int8, decoded as ``float32(wq)``.

- ``acc[n, o, y, x]`` (float32) ``= sum_{i, ky, kx} x[n, g*Cg + i, y*sh + ky*dh - top,
  x*sw + kx*dw - left] * decoded_w[o, i, ky, kx]``; taps outside the input read 0 (zero padding,
  ``padding = (top, left, bottom, right)``). float32 accumulation in an unspecified order.
- ``out[n, o, y, x]`` (float32, NCHW) ``= acc * scale[o] + bias[o]`` (a fused multiply-add is
  allowed), then ``max(., 0)`` with ``relu``.

Stages: ``pad`` (only with non-zero padding), ``acc``, ``out``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import PACK_DTYPES, num_words
from schedules.int8_conv2d.compute import grouped_conv_sum

WEIGHT_FORMATS = ("binary", "int8")


def _pack_bits(dtype: str) -> int:
    for bits, name in PACK_DTYPES.items():
        if name == dtype:
            return bits
    raise ValueError(f"binary weights must be one of {sorted(PACK_DTYPES.values())}, got {dtype}")


def weight_decoder(w: te.Tensor, weight_format: str, channels_per_group: int):
    """``(decode(o, i, ky, kx) -> float32 expr, logical weight shape (O, Cg, KH, KW))``."""
    o_n, k_n, kh, kw = (int(s) for s in w.shape)
    cg = int(channels_per_group)
    if weight_format == "binary":
        bits = _pack_bits(w.dtype)
        if k_n != num_words(cg, bits):
            raise ValueError(f"binary weights of {cg} channels per group need {num_words(cg, bits)} {w.dtype} words, got {k_n}")
        one = tirx.const(1, w.dtype)

        def decode(oo, ii, yy, xx):
            word = w[oo, ii // bits, yy, xx]
            bit = (word >> (ii % bits).astype(w.dtype)) & one
            return tirx.Select(bit != tirx.const(0, w.dtype), tirx.const(1.0, "float32"), tirx.const(-1.0, "float32"))

    elif weight_format == "int8":
        if w.dtype != "int8" or k_n != cg:
            raise ValueError(f"int8 weights must be int8 (O, {cg}, KH, KW), got {w.dtype} {tuple(w.shape)}")

        def decode(oo, ii, yy, xx):
            return w[oo, ii, yy, xx].astype("float32")

    else:
        raise ValueError(f"weight_format must be one of {WEIGHT_FORMATS}, got {weight_format!r}")
    return decode, (o_n, cg, kh, kw)


def decoded_weight_conv2d(x: te.Tensor, w: te.Tensor, scale: te.Tensor, bias: te.Tensor, *, weight_format: str,
                          channels_per_group: int, strides=(1, 1), padding=0, dilation=(1, 1), groups: int = 1,
                          relu: bool = False) -> te.Tensor:
    """float32 ``(N, O, Ho, Wo)`` of the contract above; ``scale`` and ``bias`` are float32 ``(O,)``."""
    if x.dtype != "float32":
        raise ValueError(f"decoded_weight_conv2d wants float32 activations, got {x.dtype}")
    decode, w_shape = weight_decoder(w, weight_format, channels_per_group)
    acc = grouped_conv_sum(
        x, w_shape, decode, lambda xv, wv: xv * wv,
        strides=strides, padding=padding, dilation=dilation, groups=groups,
    )

    def epilogue(nn, oo, yy, xx):
        y = acc[nn, oo, yy, xx] * scale[oo] + bias[oo]
        return tirx.max(y, tirx.const(0.0, "float32")) if relu else y

    return te.compute(acc.shape, epilogue, name="out")
