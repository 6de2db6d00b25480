"""x86 schedule (AVX2 and up) of the bitserial conv2d PrimFunc.

Parallel over (n, o-tile, output row); each task computes a register tile of ``tile_o`` output
channels x ``tile_x`` output columns: the reduction (kc, ky, kx, a) runs outside the tile, the
``tile_o`` loop is unrolled and the ``tile_x`` loop vectorized: per tap and bit plane one vector of
packed words is loaded and its popcount computed once, shared by the unrolled channels (see the
``2*popcount(x & w) - popcount(x)`` form in compute.py). The padding stage runs first, in parallel.
A ``tile_x`` that does not divide the output width is replaced by a nearby divisor: a predicated
tail would make TVM scalarize the whole tile (measured 3x slower).
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.quantize.x86 import vector_lanes, vectorize_inner

DEFAULT_KNOBS = {
    "tile_o": 8,  # output channels per register tile (clamped to a divisor of O / groups)
    "tile_x": 8,  # output columns per register tile (vector lanes), adjusted to a divisor of Wo (vector_lanes)
    "unroll": ("kx", "a"),  # reduction loops to unroll, from ("kc", "ky", "kx", "a")
    "parallel": True,
}


def _knobs(knobs) -> dict:
    merged = dict(DEFAULT_KNOBS)
    if knobs:
        unknown = set(knobs) - set(DEFAULT_KNOBS)
        if unknown:
            raise KeyError(f"unknown bitserial_conv2d knobs: {sorted(unknown)}")
        merged.update(knobs)
    return merged


def _divisor_at_most(extent: int, want: int) -> int:
    return max(d for d in range(1, min(extent, want) + 1) if extent % d == 0)


def _block_names(sch: s_tir.Schedule) -> set[str]:
    return {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}


def _schedule_pad(sch: s_tir.Schedule, knobs: dict) -> None:
    block = sch.get_sblock("pad")
    loops = sch.get_loops(block)
    outer = sch.fuse(*loops[:-1])
    if knobs["parallel"]:
        sch.parallel(outer)
    vectorize_inner(sch, loops[-1], 16)


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``bitserial_conv2d`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    knobs = _knobs(knobs)
    sch = s_tir.Schedule(func)
    if "pad" in _block_names(sch):
        _schedule_pad(sch, knobs)

    groups = int(func.params[0].ty.shape[1])  # xp: (N, G, KC, A, H, W)
    o_total = int(func.params[1].ty.shape[0])  # wb: (O, KC, KH, KW)
    acc = sch.get_sblock("acc")
    out = sch.get_sblock("out")
    tile_o = _divisor_at_most(o_total // groups, knobs["tile_o"])

    n, o, y, x, kc, a, ky, kx = sch.get_loops(acc)
    tile_x = vector_lanes(int(sch.get(x).extent), knobs["tile_x"])
    oo, oi = sch.split(o, factors=[None, tile_o])
    xo, xi = sch.split(x, factors=[None, tile_x])
    sch.reorder(n, oo, y, xo, kc, ky, kx, a, oi, xi)
    par = sch.fuse(n, oo, y)
    if knobs["parallel"]:
        sch.parallel(par)
    named = {"kc": kc, "ky": ky, "kx": kx, "a": a}
    for name in knobs["unroll"]:
        sch.unroll(named[name])
    sch.unroll(oi)
    sch.vectorize(xi)
    sch.reverse_compute_at(out, xo)
    e_oi, e_xi = sch.get_loops(out)[-2:]
    sch.unroll(e_oi)
    sch.vectorize(e_xi)
    init = sch.decompose_reduction(acc, kc)
    i_oi, i_xi = sch.get_loops(init)[-2:]
    sch.unroll(i_oi)
    sch.vectorize(i_xi)
    return sch.mod["main"]
