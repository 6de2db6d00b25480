"""A CPU schedule rule for the PrimFuncs that Relax legalization and FuseOps emit around our kernels
(add + relu, max/avg pooling, mean, reshape copies...): they come out of TVM's default CPU pipeline as
single-threaded scalar loops.

The rule inlines every producer block it can into its consumer, then, per remaining block, fuses the
leading data-parallel loops, splits off a vector lane count that divides the innermost extent when all
loops are data-parallel, and parallelizes the outer part. Reductions (pooling windows, means) keep
their reduction loops inside. Knobs: ``lanes`` (vector width in elements), ``min_parallel`` (do not
parallelize below this many iterations).
"""
from __future__ import annotations

DEFAULT_KNOBS = {"lanes": 8, "min_parallel": 64}

DATA_PAR = 0


def _divisor_lanes(extent: int, lanes: int) -> int:
    for v in (lanes, 16, 8, 4, 2):
        if v <= lanes and extent % v == 0:
            return v
    return 1


def schedule_generic(func, knobs=None):
    """Schedule a legalized PrimFunc; returns the tvm.s_tir.Schedule or None when nothing applies."""
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    return sch if apply(sch, knobs) else None


def apply(sch, knobs=None) -> bool:
    """The rule on ``sch`` (its trace is the hand baseline of a tuning task); False when nothing applies."""
    k = dict(DEFAULT_KNOBS, **(knobs or {}))
    root = sch.get_sblock("root") if _has_root(sch) else None
    if root is None:
        return False
    blocks = sch.get_child_blocks(root)
    for b in blocks[:-1]:
        try:
            sch.compute_inline(b)
        except Exception:  # noqa: BLE001 - not inlinable: keep the block and schedule it below
            pass
    for b in sch.get_child_blocks(root):
        _schedule_block(sch, b, k)
    return True


def _has_root(sch) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001
        return False


def _schedule_block(sch, block, k):
    loops = sch.get_loops(block)
    if not loops:
        return
    kinds = [iv.iter_type for iv in sch.get(block).iter_vars]
    if len(kinds) != len(loops):
        return  # loops and iter vars do not map one to one: leave it
    n_par = 0
    for kind in kinds:
        if kind != DATA_PAR:
            break
        n_par += 1
    if n_par == 0:
        return
    extents = [int(sch.get(loop).extent) for loop in loops]
    all_parallel = n_par == len(loops)
    if all_parallel and len(loops) > 0:
        lanes = _divisor_lanes(extents[-1], int(k["lanes"]))
        fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
        total = 1
        for e in extents:
            total *= e
        if lanes > 1 and total % lanes == 0:
            outer, inner = sch.split(fused, [None, lanes])
            sch.vectorize(inner)
        else:
            outer = fused
        if total // max(lanes, 1) >= int(k["min_parallel"]):
            sch.parallel(outer)
        return
    par = loops[:n_par]
    fused = sch.fuse(*par) if len(par) > 1 else par[0]
    total = 1
    for e in extents[:n_par]:
        total *= e
    if total >= int(k["min_parallel"]):
        sch.parallel(fused)


def generic_rule():
    """The rule as a dlight ScheduleRule (for ``ApplyDefaultSchedule``)."""
    from tvm.s_tir import dlight

    def apply(func, target, tunable):  # noqa: ARG001
        try:
            return schedule_generic(func)
        except Exception:  # noqa: BLE001 - an unusual PrimFunc stays unscheduled (still correct)
            return None

    return dlight.ScheduleRule.from_callable("sepnet_generic_x86")(apply)
