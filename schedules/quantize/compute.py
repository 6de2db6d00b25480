"""TE compute of activation quantization and bit packing (docs/numerics.md).

Contract:

- ``quantize``: ``q = clip(rint(float32(x) * inv_scale[0]), lo, hi)`` cast to ``out_dtype``. The
  product is a float32 multiply, ``rint`` rounds half to even (``tirx.nearbyint``, identical to
  ``np.rint``), the clip is done in float32 before the cast. ``x`` has any rank; ``inv_scale`` is a
  float32 tensor of shape ``(1,)``.
- ``quantize_bitpack``: the unsigned A-bit quantization (``lo = 0``, ``hi = 2^A - 1``) of an NCHW
  float32 ``x``, packed into words of ``pack_bits`` bits: ``xp[n, g, kc, a, h, w]`` (dtype
  ``PACK_DTYPES[pack_bits]``) has bit ``j`` (LSB first) equal to bit ``a`` of
  ``q[n, g*Cg + kc*pack_bits + j, h, w]``, 0 for ``kc*pack_bits + j >= Cg`` (``Cg = C // groups``).
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import PACK_DTYPES, num_words


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
