"""A CPU schedule rule for the PrimFuncs that Relax legalization and FuseOps emit around our kernels
(add + relu, max/avg pooling, mean, reshape copies...): they come out of TVM's default CPU pipeline as
single-threaded scalar loops.

The rule inlines every producer block it can into its consumer, then schedules each remaining block:
- elementwise blocks (every loop data-parallel, each operand read either at the output's position or
  broadcast over trailing dimensions, e.g. a per-channel scale): the leading loops fused and
  parallelized, the trailing ones fused into one serial loop whose operands are contiguous or
  invariant, which LLVM's loop vectorizer turns into full-width vector code at any extent (a TVM
  ``vectorize`` needs a lane count dividing the extent: 2 or 1 lanes at the 14 x 14 and 7 x 7 maps of
  MobileNet-v3, 4x slower);
- other data-parallel blocks (transposes, gathers): all loops fused, a vector lane count that divides
  the innermost extent split off and vectorized, the outer part parallelized;
- reductions (pooling windows, means) keep their reduction loops inside, the data-parallel loops fused
  and parallelized.
Knobs: ``lanes`` (vector width in elements), ``min_parallel`` (do not parallelize below this many
iterations).
"""
from __future__ import annotations

import math

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
    split = _contiguous_suffix(sch.get(block), extents) if all_parallel else None
    if split is not None:
        inner = sch.fuse(*loops[split:]) if len(loops) - split > 1 else loops[split]
        outer = (sch.fuse(*loops[:split]) if split > 1 else loops[0]) if split else inner
        if math.prod(extents) >= int(k["min_parallel"]) and (split == 0 or math.prod(extents[:split]) > 1):
            sch.parallel(outer)
        return
    if all_parallel and len(loops) > 0:
        lanes = _divisor_lanes(extents[-1], int(k["lanes"]))
        fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
        total = math.prod(extents)
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
    if math.prod(extents[:n_par]) >= int(k["min_parallel"]):
        sch.parallel(fused)


def _access_kinds(region, ivars, shape) -> list[str] | None:
    """Per dimension of one operand access: ``"at"`` (indexed by the block's own variable of that
    dimension, one element), ``"bcast"`` (a size-1 dimension read at 0), ``"other"``; None when the
    operand's rank is not the block's."""
    from tvm import tirx

    if len(region) != len(ivars):
        return None
    kinds = []
    for rng, var, dim in zip(region, ivars, shape):
        one = isinstance(rng.extent, tirx.IntImm) and int(rng.extent) == 1
        if one and rng.min.same_as(var):
            kinds.append("at")
        elif one and isinstance(rng.min, tirx.IntImm) and int(rng.min) == 0 and int(dim) == 1:
            kinds.append("bcast")
        else:
            kinds.append("other")
    return kinds


def _contiguous_suffix(block, extents) -> int | None:
    """For an elementwise block: the first loop of the longest run of trailing loops over which every
    operand is contiguous (read or written at the output's position) or invariant (broadcast), 0 when all
    loops qualify; None when the block is not elementwise (an operand read elsewhere, e.g. a transpose)
    or no trailing loop qualifies."""
    ivars = [iv.var for iv in block.iter_vars]
    accesses = []
    for r in list(block.reads) + list(block.writes):
        if len(r.region) == 0:
            continue  # a scalar operand
        kinds = _access_kinds(r.region, ivars, r.source.shape)
        if kinds is None or "other" in kinds:
            return None
        accesses.append(kinds)
    n = len(extents)
    start = n
    while start > 0:
        d = start - 1
        ok = all(extents[d] == 1 or all(kinds[j] == kinds[d] or extents[j] == 1 for j in range(d, n))
                 for kinds in accesses)
        if not ok:
            break
        start = d
    return start if start < n else None


def generic_rule():
    """The rule as a dlight ScheduleRule (for ``ApplyDefaultSchedule``)."""
    from tvm.s_tir import dlight

    def apply(func, target, tunable):  # noqa: ARG001
        try:
            return schedule_generic(func)
        except Exception:  # noqa: BLE001 - an unusual PrimFunc stays unscheduled (still correct)
            return None

    return dlight.ScheduleRule.from_callable("sepnet_generic_x86")(apply)
