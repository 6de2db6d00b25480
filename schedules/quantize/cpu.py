"""CPU schedules (x86 and ARM families) for the quantize PrimFuncs of :mod:`schedules.quantize`.

``quantize``: all loops fused into one parallel loop over contiguous elements, which LLVM's loop
vectorizer turns into full-width vector code at any extent (``fuse_all``; MobileNet-v3's 28 x 28 maps:
55 -> 5 us, 1 thread); or (``fuse_all=False``) the leading loops fused and run in parallel and the
innermost (W) loop vectorized by TVM over a lane count dividing W (7 lanes at W = 28: slow).
``quantize_bitpack``: the quantize stage as above (into a uint8 buffer); the pack stage runs over
(n, g, kc, h) in parallel, then (a, j, w) with the bit loop ``j`` unrolled and ``w`` vectorized, so one word row is
OR-ed together from ``pack_bits`` vector loads of the quantized rows. ``quantize_bitpack_im2col``: the
same two stages (channel words), a parallel ``pad`` stage, then ``im2col`` in parallel over (n, g, y)
with the word loop ``kr`` unrolled (its per-word select folds to constant shifts) and the output
columns vectorized (``im2col_vector_width`` words per vector). Vector lanes are chosen by
:func:`vector_lanes` to divide the loop: a predicated tail makes TVM scalarize the loop.
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import merge_knobs
from schedules.schedule_utils import block_names

DEFAULT_KNOBS = {
    "fuse_all": True,  # quantize stage: all loops fused into one parallel loop that LLVM vectorizes (else W vectorized)
    "vector_width": 8,  # lanes of the innermost W loop of the quantize stage (float32 in, int8 out)
    "pack_vector_width": 8,  # lanes of the W loop of the pack stage (one word per lane)
    "parallel_axes": 2,  # leading loops of the quantize stage fused into its parallel loop (n, c)
    "unroll_pack": True,  # unroll the bit loop j of the pack stage
    "im2col_vector_width": 4,  # lanes of the output-column loop of the im2col stage (one word per lane)
    "im2col_unroll": True,  # unroll the word loop kr of the im2col stage (resolves its per-word select)
}


def vector_lanes(extent: int, want: int) -> int:
    """Lanes for vectorizing a loop of ``extent``: a divisor near ``want`` (the largest in
    ``[want/2, want]``, else the smallest in ``(want, 2*want]``), else the whole loop when it is at
    most ``2*want`` long, else ``want`` (the last chunk is then predicated, which TVM scalarizes)."""
    if extent <= want:
        return extent
    below = [d for d in range(max(1, want // 2), want + 1) if extent % d == 0]
    if below:
        return max(below)
    above = [d for d in range(want + 1, 2 * want + 1) if extent % d == 0]
    if above:
        return min(above)
    return extent if extent <= 2 * want else want


def vectorize_inner(sch: s_tir.Schedule, loop, want: int):
    """Vectorize ``loop`` over :func:`vector_lanes` lanes; returns the outer loop of the split (None
    when the whole loop is vectorized)."""
    extent = int(sch.get(loop).extent)
    lanes = vector_lanes(extent, want)
    if lanes == extent:
        sch.vectorize(loop)
        return None
    outer, inner = sch.split(loop, factors=[None, lanes])
    sch.vectorize(inner)
    return outer


def _schedule_elementwise(sch: s_tir.Schedule, block, knobs: dict) -> None:
    loops = sch.get_loops(block)
    if knobs.get("fuse_all"):
        fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
        sch.parallel(fused)
        return
    outer = vectorize_inner(sch, loops[-1], knobs["vector_width"])
    if len(loops) == 1:
        if outer is not None:
            sch.parallel(outer)
        return
    lead = loops[: max(1, min(knobs["parallel_axes"], len(loops) - 1))]
    sch.parallel(sch.fuse(*lead) if len(lead) > 1 else lead[0])


def _schedule_bitpack(sch: s_tir.Schedule, block, knobs: dict) -> None:
    n, g, kc, a, h, w, j = sch.get_loops(block)
    wo, wi = sch.split(w, factors=[None, vector_lanes(int(sch.get(w).extent), knobs["pack_vector_width"])])
    sch.reorder(h, a, wo, j, wi)
    sch.parallel(sch.fuse(n, g, kc, h))
    sch.vectorize(wi)
    if knobs["unroll_pack"]:
        sch.unroll(j)
    init = sch.decompose_reduction(block, j)
    sch.vectorize(sch.get_loops(init)[-1])


def _schedule_pad(sch: s_tir.Schedule, block) -> None:
    loops = sch.get_loops(block)
    sch.parallel(sch.fuse(*loops[:-2]))
    vectorize_inner(sch, loops[-1], 8)


def _schedule_im2col(sch: s_tir.Schedule, block, knobs: dict) -> None:
    n, g, y, a, kr, x = sch.get_loops(block)
    xo, xi = sch.split(x, factors=[None, vector_lanes(int(sch.get(x).extent), knobs["im2col_vector_width"])])
    sch.parallel(sch.fuse(n, g, y))
    sch.vectorize(xi)
    if knobs["im2col_unroll"]:
        sch.unroll(kr)


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``quantize``, ``quantize_bitpack`` or ``quantize_bitpack_im2col`` PrimFunc (block
    names ``quantize``, ``bitpack``, ``pad``, ``im2col``)."""
    sch = s_tir.Schedule(func)
    apply(sch, knobs)
    return sch.mod["main"]


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule's steps on ``sch`` (whose ``main`` is an unscheduled quantize PrimFunc);
    its trace is the hand default's record in a tuning database (tvm_sepnet.tuning)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "quantize")
    names = block_names(sch)
    _schedule_elementwise(sch, sch.get_sblock("quantize"), knobs)
    if "bitpack" in names:
        _schedule_bitpack(sch, sch.get_sblock("bitpack"), knobs)
    if "pad" in names:
        _schedule_pad(sch, sch.get_sblock("pad"))
    if "im2col" in names:
        _schedule_im2col(sch, sch.get_sblock("im2col"), knobs)
