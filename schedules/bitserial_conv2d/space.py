"""Tuning space of ``bitserial_conv2d`` (the hand schedule of :mod:`.cpu` with its knobs sampled).

``tile_o`` and ``tile_x`` are ``sample_perfect_tile`` splits of the output-channel (within a group)
and column loops (innermost factor at most 16 / 32), the unroll depth of the reduction is a
``sample_categorical`` of ``meta_schedule.unroll_explicit``; the two loop orders (the ``o_inner``
knob) are two design spaces. The reduction init is decomposed by MetaSchedule's postprocessor.
"""
from __future__ import annotations

from tvm import s_tir

from schedules.schedule_utils import annotate_unroll

from . import cpu


def space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001 (knobs: the common signature)
    """Design spaces of an unscheduled ``bitserial_conv2d`` PrimFunc (blocks ``acc``, ``out``)."""
    spaces = []
    for o_inner in (False, True):
        s = sch.copy()
        _structure(s, o_inner)
        spaces.append(s)
    return spaces


def _structure(sch: s_tir.Schedule, o_inner: bool) -> None:
    func = sch.mod["main"]
    groups = int(func.params[0].ty.shape[1])  # xcol: (N, G, Ho, A, KR, Wo)
    o_total = int(func.params[1].ty.shape[0])
    acc = sch.get_sblock("acc")
    out = sch.get_sblock("out")
    n, o, y, x, a, kr = sch.get_loops(acc)
    og, oi = sch.split(o, factors=[groups, o_total // groups])  # tiles never straddle a group
    oo, oi = sch.split(oi, factors=sch.sample_perfect_tile(oi, n=2, max_innermost_factor=16))
    xo, xi = sch.split(x, factors=sch.sample_perfect_tile(x, n=2, max_innermost_factor=32))
    if o_inner:
        sch.reorder(n, y, xo, og, oo, a, kr, oi, xi)
        par = sch.fuse(n, y)
        tile = oo
    else:
        sch.reorder(n, og, oo, y, xo, a, kr, oi, xi)
        par = sch.fuse(n, og, oo, y)
        tile = xo
    sch.parallel(par)
    sch.unroll(oi)
    sch.vectorize(xi)
    sch.reverse_compute_at(out, tile, preserve_unit_loops=True)  # a fixed loop count for trace replay
    e_oi, e_xi = sch.get_loops(out)[-2:]
    sch.unroll(e_oi)
    sch.vectorize(e_xi)
    annotate_unroll(sch)  # the reduction init is decomposed by the RewriteReductionBlock postproc


#: tuning kind -> (design space, hand schedule applied to a Schedule)
SPACES = {"bitserial_conv2d": (space, cpu.apply)}
