"""Tuning space of the legalized float ops around our kernels (pooling, fused elementwise ops; hand
schedule :mod:`.cpu`), and which of them are worth a tuning task.

Two structures (producers such as the pooling pad inlined, or kept as their own parallel vectorized
loop nest); per block the data-parallel loops are fused and parallelized, the innermost one split by
a ``sample_perfect_tile`` vector width and vectorized (moved inside the reduction loops of pooling /
mean blocks), plus the unroll decision.
"""
from __future__ import annotations

from tvm import s_tir

from schedules.schedule_utils import annotate_unroll, workload_module

from . import cpu

MIN_ITERATIONS = 4096  # smaller generic functions (reshape copies, tiny adds) are not worth a task


def space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001
    """Design spaces of a legalized generic PrimFunc (see the module docstring)."""
    spaces = []
    n_blocks = len(sch.get_child_blocks(sch.get_sblock("root")))
    for inline in ((True, False) if n_blocks > 1 else (True,)):
        s = sch.copy()
        if inline:
            for b in s.get_child_blocks(s.get_sblock("root"))[:-1]:
                try:
                    s.compute_inline(b)
                except Exception:  # noqa: BLE001 - not inlinable: scheduled as its own nest
                    pass
        for b in s.get_child_blocks(s.get_sblock("root")):
            loops = s.get_loops(b)
            kinds = [iv.iter_type for iv in s.get(b).iter_vars]
            if not loops or len(kinds) != len(loops) or kinds[0] != cpu.DATA_PAR:
                continue
            n_par = next((i for i, kind in enumerate(kinds) if kind != cpu.DATA_PAR), len(kinds))
            par, red = loops[:n_par], loops[n_par:]
            wo, wi = s.split(par[-1], s.sample_perfect_tile(par[-1], n=2, max_innermost_factor=16))
            if red:
                s.reorder(wo, *red, wi)
            s.parallel(s.fuse(*par[:-1], wo) if len(par) > 1 else wo)
            s.vectorize(wi)
        annotate_unroll(s)
        spaces.append(s)
    return spaces


def is_generic_task(func) -> bool:
    """Whether a legalized, unscheduled PrimFunc is worth a ``generic`` tuning task (the hand rule
    applies and some loop nest has at least ``MIN_ITERATIONS`` iterations)."""
    if func.attrs is not None and "tirx.is_scheduled" in func.attrs:
        return False
    return _iterations(func) >= MIN_ITERATIONS and cpu.apply(s_tir.Schedule(workload_module(func)))


def _iterations(func) -> int:
    """Largest loop-nest iteration count of the function's blocks (0 if it has none)."""
    sch = s_tir.Schedule(workload_module(func))
    try:
        blocks = sch.get_child_blocks(sch.get_sblock("root"))
    except Exception:  # noqa: BLE001 - no root block
        return 0
    best = 0
    for b in blocks:
        n = 1
        for loop in sch.get_loops(b):
            n *= int(sch.get(loop).extent)
        best = max(best, n)
    return best


SPACES = {"generic": (space, cpu.apply)}
