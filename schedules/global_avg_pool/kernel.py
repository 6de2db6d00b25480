"""PrimFunc of :mod:`schedules.global_avg_pool.compute`, one schedule for every family: channels in
vectors of ``CHANNEL_LANES`` (when they divide the channel count), each lane summing its channel's
positions in order, the vectors in parallel. A channel at a time (the float64 sum a chain of dependent
adds) ran 4-6x slower on MobileNet-v3's squeeze-and-excitation pools."""
from __future__ import annotations

from tvm import s_tir, te, tirx

from schedules.global_avg_pool import compute

CHANNEL_LANES = (8, 4, 2)


def global_avg_pool_prim_func(shape, *, scheduled: bool = True) -> tirx.PrimFunc:
    """PrimFunc ``(x float32[N, C, H, W]) -> float32[N, C, 1, 1]``, no ``global_symbol``."""
    x = te.placeholder([tirx.IntImm("int64", int(s)) for s in shape], "float32", name="x")
    func = te.create_prim_func([x, compute.global_avg_pool_exact(x)]).without_attr("global_symbol")
    if not scheduled:
        return func
    sch = s_tir.Schedule(func)
    acc = sch.get_sblock("acc")
    n, c, rh, rw = sch.get_loops(acc)
    lanes = next((v for v in CHANNEL_LANES if int(shape[1]) % v == 0), 1)
    if lanes > 1:
        c, lane = sch.split(c, [None, lanes])
        sch.reorder(c, rh, rw, lane)
        sch.vectorize(lane)
    sch.parallel(sch.fuse(n, c))
    return sch.mod["main"]
