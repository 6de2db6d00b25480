"""PrimFunc of :mod:`schedules.global_avg_pool.compute` (parallel over channels; tiny op, one schedule
for every family)."""
from __future__ import annotations

from tvm import s_tir, te, tirx

from schedules.global_avg_pool import compute


def global_avg_pool_prim_func(shape, *, scheduled: bool = True) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[N, C, H, W]) -> float32[N, C, 1, 1]``, no ``global_symbol``."""
    x = te.placeholder([tirx.IntImm("int64", int(s)) for s in shape], "float32", name="x")
    func = te.create_prim_func([x, compute.global_avg_pool_exact(x)]).without_attr("global_symbol")
    if not scheduled:
        return func
    sch = s_tir.Schedule(func)
    n, c = sch.get_loops(sch.get_sblock("acc"))[:2]
    sch.parallel(sch.fuse(n, c))
    return sch.mod["main"]
