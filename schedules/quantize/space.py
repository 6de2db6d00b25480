"""Tuning space of the quantize kernels (activation quantization, and quantization + bit packing for
the bitserial convs; hand schedule :mod:`.cpu`).

Per stage, the innermost loop is split by ``sample_perfect_tile`` (inner <= 16) and vectorized, the
outer ones fused and parallelized as in the hand schedule, plus the unroll decision; structures: the
quantize stage as its own parallel nest or computed at each bit-packing row (no full uint8 tensor),
and the border-padding stage as its own nest or inlined into im2col.
"""
from __future__ import annotations

from tvm import s_tir

from schedules.schedule_utils import annotate_unroll, block_names, split_vectorize

from . import cpu


def space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001
    """Design spaces of an unscheduled ``quantize`` / ``quantize_bitpack`` / ``quantize_bitpack_im2col``
    PrimFunc (blocks ``quantize``, ``bitpack``?, ``pad``?, ``im2col``?)."""
    names = block_names(sch)
    variants = [(False, False)] + ([(True, False)] if "bitpack" in names else [])
    if "pad" in names:
        variants += [(at_row, True) for at_row, _ in variants]
    spaces = []
    for at_row, inline_pad in variants:
        s = sch.copy()
        _structure(s, names, at_row, inline_pad)
        spaces.append(s)
    return spaces


def _structure(sch: s_tir.Schedule, names: set, at_row: bool, inline_pad: bool) -> None:
    q = sch.get_sblock("quantize")
    row = None
    if "bitpack" in names:  # (n, g, kc, a, h, w, j): one parallel task per packed row, bits OR-ed over j
        bp = sch.get_sblock("bitpack")
        n, g, kc, a, h, w, j = sch.get_loops(bp)
        wo, wi = split_vectorize(sch, w)
        sch.reorder(h, a, wo, j, wi)
        row = sch.fuse(n, g, kc, h)
        sch.parallel(row)
        sch.unroll(j)
        init = sch.decompose_reduction(bp, j)
        sch.vectorize(sch.get_loops(init)[-1])
    if at_row:
        sch.compute_at(q, row, preserve_unit_loops=True)  # the row's channels quantized in cache
        split_vectorize(sch, sch.get_loops(q)[-1])
    else:
        loops = sch.get_loops(q)
        outer, _ = split_vectorize(sch, loops[-1])
        lead = loops[: max(1, min(2, len(loops) - 1))] if len(loops) > 1 else [outer]
        sch.parallel(sch.fuse(*lead) if len(lead) > 1 else lead[0])
    if "pad" in names:
        pad = sch.get_sblock("pad")
        if inline_pad:
            sch.compute_inline(pad)
        else:
            loops = sch.get_loops(pad)
            sch.parallel(sch.fuse(*loops[:-2]))
            split_vectorize(sch, loops[-1])
    if "im2col" in names:  # (n, g, y, a, kr, x)
        col = sch.get_sblock("im2col")
        n, g, y, a, kr, x = sch.get_loops(col)
        split_vectorize(sch, x)
        sch.parallel(sch.fuse(n, g, y))
        sch.unroll(kr)
    annotate_unroll(sch)


SPACES = {"quantize": (space, cpu.apply)}
