"""CPU schedule (x86 and ARM families) of the bitserial conv2d PrimFunc (a binary GEMM over im2col words).

Loops of ``acc``: ``n, o, y, x`` (spatial) and ``a, kr`` (reduction: bit plane, im2col word). The
schedule tiles ``tile_o`` output channels (of one group) x ``tile_x`` output columns into a register
tile; the reduction runs outside the tile, the tile loops inside it are unrolled (``tile_o``) and
unrolled or vectorized (``tile_x``). Per (a, kr) the tile loads ``tile_x`` activation words (their
popcount computed once, shared by the ``tile_o`` channels: ``2*popcount(x & w) - popcount(x)``) and
``tile_o`` weight words. The epilogue is computed at the tile. Parallel over ``(n, y)`` (and the
o-tiles when ``o_inner`` is False).

Knobs (``DEFAULT_KNOBS``):

- ``tile_o``: output channels per register tile (clamped to a divisor of O / groups).
- ``tile_x``: output columns per register tile, adjusted to a divisor of Wo (``vector_lanes``).
- ``vectorize_x``: vectorize the ``tile_x`` loop (AVX2 popcount through vpshufb) instead of unrolling
  it (scalar 64-bit ``popcnt``).
- ``unroll``: reduction loops to unroll, from ``("a", "kr")``.
- ``o_inner``: loop order ``n, y, x-tile, o-tile`` (True: an activation tile is reused from L1 by
  every o-tile) or ``n, o-tile, y, x-tile`` (False).
- ``parallel``: run the outer (n, y[, o-tile]) loop in parallel.
- ``pack_bits``: im2col word (32 or 64); read by ``relay_passes.lower_to_kernels`` to pick the layout
  of ``quantize_bitpack_im2col`` and ``packing.prepare_weights`` (the kernel follows its input dtype).
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import divisor_at_most, merge_knobs
from schedules.quantize.cpu import vector_lanes

DEFAULT_KNOBS = {
    "tile_o": 8,
    "tile_x": 8,
    "vectorize_x": True,
    "unroll": (),
    "o_inner": False,
    "parallel": True,
    "pack_bits": 64,
}


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``bitserial_conv2d`` PrimFunc (blocks ``acc``, ``out``)."""
    sch = s_tir.Schedule(func)
    apply(sch, knobs)
    return sch.mod["main"]


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule's steps on ``sch`` (whose ``main`` is an unscheduled ``bitserial_conv2d``);
    its trace is the hand default's record in a tuning database (tvm_sepnet.tuning)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "bitserial_conv2d")
    func = sch.mod["main"]
    groups = int(func.params[0].ty.shape[1])  # xcol: (N, G, Ho, A, KR, Wo)
    o_total = int(func.params[1].ty.shape[0])  # wk: (O, KR)
    acc = sch.get_sblock("acc")
    out = sch.get_sblock("out")
    tile_o = divisor_at_most(o_total // groups, knobs["tile_o"])

    n, o, y, x, a, kr = sch.get_loops(acc)
    tile_x = vector_lanes(int(sch.get(x).extent), knobs["tile_x"])
    oo, oi = sch.split(o, factors=[None, tile_o])
    xo, xi = sch.split(x, factors=[None, tile_x])
    if knobs["o_inner"]:
        sch.reorder(n, y, xo, oo, a, kr, oi, xi)
        par = sch.fuse(n, y)
        tile = oo
    else:
        sch.reorder(n, oo, y, xo, a, kr, oi, xi)
        par = sch.fuse(n, oo, y)
        tile = xo
    if knobs["parallel"]:
        sch.parallel(par)
    named = {"a": a, "kr": kr}
    for name in knobs["unroll"]:
        sch.unroll(named[name])
    sch.unroll(oi)
    if knobs["vectorize_x"]:
        sch.vectorize(xi)
    else:
        sch.unroll(xi)
    sch.reverse_compute_at(out, tile)
    e_oi, e_xi = sch.get_loops(out)[-2:]
    sch.unroll(e_oi)
    sch.vectorize(e_xi) if knobs["vectorize_x"] else sch.unroll(e_xi)
    init = sch.decompose_reduction(acc, a)
    i_oi, i_xi = sch.get_loops(init)[-2:]
    sch.unroll(i_oi)
    sch.vectorize(i_xi) if knobs["vectorize_x"] else sch.unroll(i_xi)
