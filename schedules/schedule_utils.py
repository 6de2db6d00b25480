"""Small TIR schedule helpers shared by the ops' CPU schedules and their tuning spaces.

A tuning space (``schedules/<op>/space.py``) is a function ``space(sch, knobs)`` for MetaSchedule's
``ScheduleFn`` over an op's *unscheduled* PrimFunc; its decisions (``sample_perfect_tile``,
``sample_categorical``) are what MetaSchedule replays and mutates.
"""
from __future__ import annotations

from tvm import s_tir

UNROLL_STEPS = [0, 16, 64, 512]  # candidate values of ``meta_schedule.unroll_explicit``


def block_names(sch: s_tir.Schedule) -> set[str]:
    """Names of the blocks directly under the root block."""
    return {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}


def annotate_unroll(sch: s_tir.Schedule) -> None:
    """A sampled ``meta_schedule.unroll_explicit`` depth on the root block (a tuning decision)."""
    root = sch.get_sblock("root")
    step = sch.sample_categorical(UNROLL_STEPS, [0.25] * 4)
    sch.annotate(root, "meta_schedule.unroll_explicit", step)


def split_vectorize(sch: s_tir.Schedule, loop):
    """Split ``loop`` by a sampled perfect tile (inner <= 16) and vectorize the inner part; (outer, inner)."""
    outer, inner = sch.split(loop, factors=sch.sample_perfect_tile(loop, n=2, max_innermost_factor=16))
    sch.vectorize(inner)
    return outer, inner


def workload_module(func):
    """The IRModule of one kernel PrimFunc as ``main`` (what MetaSchedule tunes, what a schedule takes)."""
    import tvm

    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
