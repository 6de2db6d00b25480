"""TE compute of activation quantization and bit packing (docs/numerics.md).

Contract:

- ``quantize``: ``q = clip(rint(float32(x) * inv_scale[0]), lo, hi)`` cast to ``out_dtype``. The
  product is a float32 multiply, ``rint`` rounds half to even (``tirx.nearbyint``, identical to
  ``np.rint``), the clip is done in float32 before the cast. ``x`` has any rank; ``inv_scale`` is a
  float32 tensor of shape ``(1,)``.
- ``fake_quantize``: ``float32(q) * scale[0]`` of that quantization (a skip connection carried in 8 bits,
  ``relay_passes.QuantizeSkipConnections``).
- ``quantize_bitpack``: the unsigned A-bit quantization (``lo = 0``, ``hi = 2^A - 1``) of an NCHW
  float32 ``x``, packed into words of ``pack_bits`` bits: ``xp[n, g, kc, a, h, w]`` (dtype
  ``PACK_DTYPES[pack_bits]``) has bit ``j`` (LSB first) equal to bit ``a`` of
  ``q[n, g*Cg + kc*pack_bits + j, h, w]``, 0 for ``kc*pack_bits + j >= Cg`` (``Cg = C // groups``).
- ``quantize_bitpack_im2col`` (the input of ``bitserial_conv2d``): the same quantization packed in the
  im2col bit layout ``xcol[n, g, y, a, kr, x]`` (P = uint32/uint64): bit ``j`` of word ``kr`` is bit
  ``a`` of tap ``r = kr*P + j = (ky*KW + kx)*Cg + c`` of output pixel ``(y, x)``, i.e. of
  ``q[n, g*Cg + c, y*sh + ky*dh - top, x*sw + kx*dw - left]``; 0 outside the input (zero padding)
  and for ``r >= KH*KW*Cg``. See :func:`bitpack_im2col`.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import PACK_DTYPES, conv_out_size, normalize_padding, num_words


def _i64(value: int):
    return tirx.IntImm("int64", int(value))


def _shape_ints(shape) -> list[int]:
    return [int(s) for s in shape]


def quantize(x: te.Tensor, inv_scale: te.Tensor, *, lo: int, hi: int, out_dtype: str, name: str = "quantize") -> te.Tensor:
    """``clip(rint(x * inv_scale[0]), lo, hi)`` as ``out_dtype``, elementwise over ``x`` (float32)."""
    lo_f = tirx.const(float(lo), "float32")
    hi_f = tirx.const(float(hi), "float32")
    scale = inv_scale[_i64(0)]

    def body(*idx):
        v = tirx.nearbyint(x(*idx) * scale)
        return tirx.min(tirx.max(v, lo_f), hi_f).astype(out_dtype)

    return te.compute(x.shape, body, name=name)


def fake_quantize(x: te.Tensor, inv_scale: te.Tensor, scale: te.Tensor, *, lo: int, hi: int) -> te.Tensor:
    """``float32(clip(rint(x * inv_scale[0]), lo, hi)) * scale[0]``: the value the codes of :func:`quantize`
    stand for (a float32 multiply, no add: nothing to contract into an FMA)."""
    lo_f, hi_f = tirx.const(float(lo), "float32"), tirx.const(float(hi), "float32")
    inv, step = inv_scale[_i64(0)], scale[_i64(0)]

    def body(*idx):  # one block, named like quantize's so that its schedule applies
        return tirx.min(tirx.max(tirx.nearbyint(x(*idx) * inv), lo_f), hi_f) * step

    return te.compute(x.shape, body, name="quantize")


def bitpack(q: te.Tensor, *, bits: int, groups: int, pack_bits: int, name: str = "bitpack") -> te.Tensor:
    """Pack unsigned NCHW ``q`` into ``(N, G, KC, bits, H, W)`` words (bit ``j`` = channel ``kc*P + j``).

    The word is a sum over ``j`` of disjoint shifted bits (an OR); channels past ``Cg`` give 0. The
    channel index is clamped into the group so that every read of ``q`` stays in bounds.
    """
    n, c, h, w = _shape_ints(q.shape)
    cg = c // groups
    kc_n = num_words(cg, pack_bits)
    dtype = PACK_DTYPES[pack_bits]
    j = te.reduce_axis((_i64(0), _i64(pack_bits)), name="j")
    zero = tirx.const(0, dtype)
    one = tirx.const(1, dtype)
    ragged = cg % pack_bits != 0

    def body(nn, g, kc, a, hh, ww):
        lane = kc * pack_bits + j
        ch = tirx.min(lane, _i64(cg - 1)) if ragged else lane
        bit = ((q[nn, g * cg + ch, hh, ww].astype(dtype) >> a.astype(dtype)) & one) << j.astype(dtype)
        if ragged:
            bit = tirx.if_then_else(lane < _i64(cg), bit, zero)
        return te.sum(bit, axis=j)

    shape = [_i64(v) for v in (n, groups, kc_n, bits, h, w)]
    return te.compute(shape, body, name=name)


def quantize_bitpack(x: te.Tensor, inv_scale: te.Tensor, *, bits: int, groups: int, pack_bits: int) -> te.Tensor:
    """Unsigned ``bits``-bit quantization of NCHW float32 ``x`` followed by :func:`bitpack`."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    c = int(x.shape[1])
    if c % groups:
        raise ValueError(f"{c} channels do not split into {groups} groups")
    q = quantize(x, inv_scale, lo=0, hi=(1 << bits) - 1, out_dtype="uint8")
    return bitpack(q, bits=bits, groups=groups, pack_bits=pack_bits)


def im2col_geometry(h: int, w: int, *, kernel, strides, padding, dilation) -> dict:
    """Output size and normalized geometry of the im2col bit packing (docs/numerics.md)."""
    kh, kw = _pair(kernel)
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation)
    top, left, bottom, right = normalize_padding(padding)
    return {"kh": kh, "kw": kw, "sh": sh, "sw": sw, "dh": dh, "dw": dw, "pad": (top, left, bottom, right),
            "ho": conv_out_size(h, kh, sh, top, bottom, dh), "wo": conv_out_size(w, kw, sw, left, right, dw)}


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def pad_words(cw: te.Tensor, padding, name: str = "pad") -> te.Tensor:
    """Zero-pad the last two (H, W) axes of channel words ``(N, G, KC, A, H, W)``."""
    top, left, bottom, right = padding
    n, g, kc, a, h, w = _shape_ints(cw.shape)
    if (top, left, bottom, right) == (0, 0, 0, 0):
        return cw
    zero = tirx.const(0, cw.dtype)

    def body(nn, gg, kk, aa, yy, xx):
        inside = tirx.all(yy >= top, yy < top + h, xx >= left, xx < left + w)
        return tirx.if_then_else(inside, cw[nn, gg, kk, aa, yy - top, xx - left], zero)

    shape = [_i64(v) for v in (n, g, kc, a, h + top + bottom, w + left + right)]
    return te.compute(shape, body, name=name)


def _channel_words(q: te.Tensor, *, bits: int, groups: int, pack_bits: int) -> te.Tensor:
    """:func:`bitpack` with the bit loop cut to ``min(P, Cg)``: a group narrower than a word packs
    only its ``Cg`` bits, without the per-bit range test."""
    n, c, h, w = _shape_ints(q.shape)
    cg = c // groups
    kc_n = num_words(cg, pack_bits)
    if kc_n > 1:
        return bitpack(q, bits=bits, groups=groups, pack_bits=pack_bits)
    dtype = PACK_DTYPES[pack_bits]
    j = te.reduce_axis((_i64(0), _i64(cg)), name="j")
    one = tirx.const(1, dtype)

    def body(nn, g, kc, a, hh, ww):
        return te.sum(((q[nn, g * cg + j, hh, ww].astype(dtype) >> a.astype(dtype)) & one) << j.astype(dtype), axis=j)

    shape = [_i64(v) for v in (n, groups, 1, bits, h, w)]
    return te.compute(shape, body, name="bitpack")


def bitpack_im2col(q: te.Tensor, *, bits: int, groups: int, pack_bits: int, kernel, strides=1, padding=0,
                   dilation=1) -> te.Tensor:
    """im2col bit packing ``xcol[n, g, y, a, kr, x]`` of unsigned NCHW ``q`` (docs/numerics.md).

    Bit ``j`` of word ``kr`` is bit ``a`` of tap ``r = kr*P + j = (ky*KW + kx)*Cg + c`` of output pixel
    ``(y, x)``: ``q[n, g*Cg + c, y*sh + ky*dh - top, x*sw + kx*dw - left]``, 0 outside the input and
    for ``r >= KH*KW*Cg``. Stages: ``bitpack`` (channel words of P bits, as :func:`bitpack`), ``pad``
    (zero border, if any) and ``im2col``: each word is an OR of constant shifts of channel words.
    """
    n, c, h, w = _shape_ints(q.shape)
    cg = c // groups
    geo = im2col_geometry(h, w, kernel=kernel, strides=strides, padding=padding, dilation=dilation)
    kh, kw, sh, sw, dh, dw = (geo[k] for k in ("kh", "kw", "sh", "sw", "dh", "dw"))
    ho, wo = geo["ho"], geo["wo"]
    p = pack_bits
    dtype = PACK_DTYPES[p]
    kc_n = num_words(cg, p)
    kr_n = num_words(kh * kw * cg, p)
    cw = _channel_words(q, bits=bits, groups=groups, pack_bits=p)
    cwp = pad_words(cw, geo["pad"])

    def word(nn, g, y, a, kr: int, x):
        terms = []
        for t in range(kh * kw):
            ky, kx = divmod(t, kw)
            for kc in range(kc_n):
                base = t * cg + kc * p  # r of bit 0 of this channel word
                valid = min(cg - kc * p, p)  # bits of the word that hold channels
                if base + valid <= kr * p or base >= (kr + 1) * p:
                    continue
                v = cwp[nn, g, _i64(kc), a, y * sh + ky * dh, x * sw + kx * dw]
                shift = base - kr * p
                terms.append(v << tirx.const(shift, dtype) if shift > 0 else v >> tirx.const(-shift, dtype) if shift < 0 else v)
        out = terms[0]
        for term in terms[1:]:
            out = out | term
        return out

    def body(nn, g, y, a, kr, x):
        expr = word(nn, g, y, a, kr_n - 1, x)
        for k in range(kr_n - 2, -1, -1):
            expr = tirx.Select(kr == _i64(k), word(nn, g, y, a, k, x), expr)
        return expr

    shape = [_i64(v) for v in (n, groups, ho, bits, kr_n, wo)]
    return te.compute(shape, body, name="im2col")


def quantize_bitpack_im2col(x: te.Tensor, inv_scale: te.Tensor, *, bits: int, groups: int, pack_bits: int, kernel, strides=1,
                            padding=0, dilation=1) -> te.Tensor:
    """Unsigned ``bits``-bit quantization of NCHW float32 ``x`` followed by :func:`bitpack_im2col`."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    if pack_bits not in (32, 64):
        raise ValueError(f"im2col pack words are 32 or 64 bits, got {pack_bits}")
    c = int(x.shape[1])
    if c % groups:
        raise ValueError(f"{c} channels do not split into {groups} groups")
    q = quantize(x, inv_scale, lo=0, hi=(1 << bits) - 1, out_dtype="uint8")
    return bitpack_im2col(q, bits=bits, groups=groups, pack_bits=pack_bits, kernel=kernel, strides=strides, padding=padding,
                          dilation=dilation)
