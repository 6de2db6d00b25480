"""TE compute of the grouped bitserial conv2d: A-bit unsigned activations x 1-bit weights.

Contract (docs/numerics.md):

- ``xp[n, g, kc, a, h, w]``: packed activations (``schedules.quantize``), dtype P in
  ``PACK_DTYPES``; bit ``j`` is bit ``a`` of ``q[n, g*Cg + kc*Pbits + j, h, w]``.
- ``wb[o, kc, ky, kx]``: packed binary weights, same dtype; bit ``j`` = 1 iff
  ``B[o, kc*Pbits + j, ky, kx] = +1`` (0 means -1, padded bits are 0).
- ``acc[n, o, y, x]`` (int32) ``= sum_{kc, a, ky, kx} (popcount(x & w) - popcount(x & ~w)) << a``
  with ``x = xp[n, g, kc, a, y*sh + ky*dh - top, x*sw + kx*dw - left]`` (0 outside the input: zero
  padding adds nothing), ``w = wb[o, kc, ky, kx]`` and ``g = o // (O / groups)``. This equals
  ``sum_c q[c] * B[c]``. The kernel evaluates each term as ``2*popcount(x & w) - popcount(x)``,
  the same integer (``x & w`` and ``x & ~w`` split the set bits of ``x``), so ``popcount(x)`` is
  shared by all output channels of a tile.
- ``out[n, o, y, x]`` (float32, NCHW) is the integer epilogue of ``acc``
  (``schedules.common.integer_epilogue_te``): ``(float32(acc) + offset[o]) * scale[o]``, or
  ``offset[o]`` where ``scale[o] == 0``, then ``max(., 0)`` with ``relu``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import PACK_DTYPES, conv_out_size, integer_epilogue_te, normalize_padding


def _i64(value: int):
    return tirx.IntImm("int64", int(value))


def _ints(shape) -> list[int]:
    return [int(s) for s in shape]


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def pad_packed(xp: te.Tensor, padding, name: str = "pad") -> te.Tensor:
    """Zero-pad the H and W axes of packed activations ``(N, G, KC, A, H, W)``."""
    top, left, bottom, right = normalize_padding(padding)
    n, g, kc, a, h, w = _ints(xp.shape)
    if (top, left, bottom, right) == (0, 0, 0, 0):
        return xp
    zero = tirx.const(0, xp.dtype)

    def body(nn, gg, kk, aa, yy, xx):
        inside = tirx.all(yy >= top, yy < top + h, xx >= left, xx < left + w)
        return tirx.if_then_else(inside, xp[nn, gg, kk, aa, yy - top, xx - left], zero)

    shape = [_i64(v) for v in (n, g, kc, a, h + top + bottom, w + left + right)]
    return te.compute(shape, body, name=name)


def bitserial_accumulate(xp: te.Tensor, wb: te.Tensor, *, strides, padding, dilation, groups: int, name: str = "acc") -> te.Tensor:
    """int32 ``acc[n, o, y, x]`` of the contract above (zero padding through :func:`pad_packed`)."""
    if xp.dtype != wb.dtype or xp.dtype not in PACK_DTYPES.values():
        raise ValueError(f"xp and wb must share a pack dtype, got {xp.dtype} and {wb.dtype}")
    n, g, kc_n, bits, h, w = _ints(xp.shape)
    o_n, kc_w, kh, kw = _ints(wb.shape)
    if g != groups or kc_w != kc_n or o_n % groups:
        raise ValueError(f"inconsistent shapes: xp {(n, g, kc_n, bits, h, w)}, wb {(o_n, kc_w, kh, kw)}, groups {groups}")
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation)
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, top, bottom, dh)
    wo = conv_out_size(w, kw, sw, left, right, dw)
    o_per_group = o_n // groups
    xpad = pad_packed(xp, (top, left, bottom, right))

    kc = te.reduce_axis((_i64(0), _i64(kc_n)), name="kc")
    a = te.reduce_axis((_i64(0), _i64(bits)), name="a")
    ky = te.reduce_axis((_i64(0), _i64(kh)), name="ky")
    kx = te.reduce_axis((_i64(0), _i64(kw)), name="kx")

    def body(nn, oo, yy, xx):
        xv = xpad[nn, oo // o_per_group, kc, a, yy * sh + ky * dh, xx * sw + kx * dw]
        wv = wb[oo, kc, ky, kx]
        both = tirx.popcount(xv & wv).astype("int32")  # popcount(x & w)
        ones = tirx.popcount(xv).astype("int32")  # popcount(x & w) + popcount(x & ~w)
        return te.sum((both + both - ones) << a.astype("int32"), axis=[kc, a, ky, kx])

    shape = [_i64(v) for v in (n, o_n, ho, wo)]
    return te.compute(shape, body, name=name)


def bitserial_conv2d(xp: te.Tensor, wb: te.Tensor, scale: te.Tensor, offset: te.Tensor, *, strides, padding, dilation, groups: int, relu: bool) -> te.Tensor:
    """float32 ``(N, O, Ho, Wo)``: the integer epilogue of :func:`bitserial_accumulate`.

    ``scale`` and ``offset`` are float32 ``(O,)``; stages ``pad`` (if any padding), ``acc``, ``out``.
    """
    acc = bitserial_accumulate(xp, wb, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return te.compute(acc.shape, lambda nn, oo, yy, xx: integer_epilogue_te(acc[nn, oo, yy, xx], scale, offset, oo, relu), name="out")
