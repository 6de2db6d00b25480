"""TE compute of the grouped bitserial conv2d: A-bit unsigned activations x 1-bit weights, as a
binary GEMM over im2col bit words.

Contract (docs/numerics.md, "Bit packing"):

- ``xcol[n, g, y, a, kr, x]``: im2col-packed activations (``schedules.quantize``
  ``quantize_bitpack_im2col``), dtype P in ``{uint32, uint64}``; bit ``j`` of word ``kr`` is bit ``a``
  of tap ``r = kr*Pbits + j = (ky*KW + kx)*Cg + c`` of output pixel ``(y, x)``, i.e. of
  ``q[n, g*Cg + c, y*sh + ky*dh - top, x*sw + kx*dw - left]`` (0 outside the input: zero padding, and
  0 for ``r >= KH*KW*Cg``). Stride, padding and dilation live in the packing: this kernel has none.
- ``wk[o, kr]``: kernel-ready binary weights (``packing.prepare_weights`` of the stored
  ``wb (O, KC, KH, KW)``), same dtype; bit ``j`` = 1 iff ``B[o, c, ky, kx] = +1`` for the tap
  ``r = kr*Pbits + j`` (0 means -1; bits with ``r >= KH*KW*Cg`` are 0).
- ``acc[n, o, y, x]`` (int32) ``= sum_{a, kr} (popcount(x & w) - popcount(x & ~w)) << a`` with
  ``x = xcol[n, o // (O / G), y, a, kr, x]`` and ``w = wk[o, kr]``. This equals
  ``sum_{c, ky, kx} q * B`` over in-range taps (an activation bit that is 0 adds nothing, whatever
  the weight bit). The kernel evaluates each term as ``2*popcount(x & w) - popcount(x)``, the same
  integer, so ``popcount(x)`` is shared by all output channels of a tile.
- ``out[n, o, y, x]`` (float32, NCHW) is the integer epilogue of ``acc``
  (``schedules.common.integer_epilogue_te``): ``(float32(acc) + offset[o]) * scale[o]``, or
  ``offset[o]`` where ``scale[o] == 0``; with a ``residual[n, o, y, x]`` (float32) operand that is
  added next; then ``max(., 0)`` with ``relu``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import integer_epilogue_te

IM2COL_DTYPES = ("uint32", "uint64")


def _i64(value: int):
    return tirx.IntImm("int64", int(value))


def _ints(shape) -> list[int]:
    return [int(s) for s in shape]


def bitserial_accumulate(xcol: te.Tensor, wk: te.Tensor, name: str = "acc") -> te.Tensor:
    """int32 ``acc[n, o, y, x]`` of the contract above."""
    if xcol.dtype != wk.dtype or xcol.dtype not in IM2COL_DTYPES:
        raise ValueError(f"xcol and wk must share a pack dtype in {IM2COL_DTYPES}, got {xcol.dtype} and {wk.dtype}")
    n, groups, ho, bits, kr_n, wo = _ints(xcol.shape)
    o_n, kr_w = _ints(wk.shape)
    if kr_w != kr_n or o_n % groups:
        raise ValueError(f"inconsistent shapes: xcol {(n, groups, ho, bits, kr_n, wo)}, wk {(o_n, kr_w)}")
    o_per_group = o_n // groups
    a = te.reduce_axis((_i64(0), _i64(bits)), name="a")
    kr = te.reduce_axis((_i64(0), _i64(kr_n)), name="kr")

    def body(nn, oo, yy, xx):
        xv = xcol[nn, oo // o_per_group, yy, a, kr, xx]
        wv = wk[oo, kr]
        both = tirx.popcount(xv & wv).astype("int32")  # popcount(x & w)
        ones = tirx.popcount(xv).astype("int32")  # popcount(x & w) + popcount(x & ~w)
        return te.sum((both + both - ones) << a.astype("int32"), axis=[a, kr])

    shape = [_i64(v) for v in (n, o_n, ho, wo)]
    return te.compute(shape, body, name=name)


def bitserial_conv2d(xcol: te.Tensor, wk: te.Tensor, scale: te.Tensor, offset: te.Tensor, *, relu: bool,
                     residual: te.Tensor | None = None) -> te.Tensor:
    """float32 ``(N, O, Ho, Wo)``: the integer epilogue of :func:`bitserial_accumulate`.

    ``scale`` and ``offset`` are float32 ``(O,)``, ``residual`` None or float32 ``(N, O, Ho, Wo)``;
    stages ``acc``, ``out``.
    """
    acc = bitserial_accumulate(xcol, wk)
    return te.compute(acc.shape, lambda nn, oo, yy, xx: integer_epilogue_te(
        acc[nn, oo, yy, xx], scale, offset, oo, relu, None if residual is None else residual[nn, oo, yy, xx]), name="out")
