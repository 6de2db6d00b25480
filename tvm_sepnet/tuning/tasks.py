"""Tuning tasks: the distinct tunable kernels of a compiled model, with their hand schedules.

A task is one kernel shape (identical layer shapes share a task: ``LowerToKernels`` builds each
distinct kernel once), its unscheduled PrimFunc (the MetaSchedule workload), the trace of its hand
schedule and the layers that call it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import tvm
from tvm import s_tir

from schedules.bitserial_conv2d import x86 as bitserial_x86
from schedules.int8_conv2d import x86 as int8_x86

from . import spaces

#: kind -> (MetaSchedule space function, hand-schedule function applying the default knobs to a Schedule)
KINDS = {
    "bitserial_conv2d": (spaces.bitserial_conv2d_space, bitserial_x86.apply),
    "int8_conv2d": (spaces.int8_conv2d_space, int8_x86.apply),  # the direct (tiled) kernel only
}


@dataclass
class Task:
    kind: str
    mod: tvm.IRModule  # the unscheduled kernel as ``main`` (the MetaSchedule workload)
    layers: list[str]
    calls: int
    key: str = ""  # the workload's structural hash (MetaSchedule's database key)
    hand_secs: float | None = None
    weight: float = 0.0  # calls * hand_secs: share of end-to-end kernel time
    family: str = "x86"
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        first = self.layers[0] if self.layers else "?"
        more = f"+{len(self.layers) - 1}" if len(self.layers) > 1 else ""
        return f"{self.kind}[{first}{more}]"

    @property
    def knobs(self) -> dict:
        """The family's default knob overrides of this kernel kind (schedules/families.py)."""
        from schedules.families import schedule_module

        return schedule_module(self.kind, self.family)[1]

    def hand_schedule(self) -> s_tir.Schedule:
        """The hand schedule of the workload, as a Schedule (its trace is replayable on ``mod``)."""
        sch = s_tir.Schedule(self.mod)
        KINDS[self.kind][1](sch, self.knobs)
        return sch

    def space(self):
        """The design-space function for ``ms.space_generator.ScheduleFn``."""
        import functools

        return functools.partial(KINDS[self.kind][0], knobs=self.knobs)


def workload_module(func) -> tvm.IRModule:
    """The IRModule MetaSchedule tunes and the build looks up for an unscheduled kernel PrimFunc."""
    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def workload_key(mod: tvm.IRModule) -> str:
    """MetaSchedule's structural-hash key of a workload module."""
    from tvm.s_tir import meta_schedule as ms

    return str(ms.database.MemoryDatabase().commit_workload(mod).as_json()[0])


def tasks_of(lowered_tasks: dict, family: str = "x86") -> list[Task]:
    """Tasks from ``LowerToKernels.tasks`` (only kinds that have a design space)."""
    out = []
    for entry in lowered_tasks.values():
        if entry["kind"] not in KINDS:
            continue
        mod = workload_module(entry["unscheduled"])
        out.append(Task(entry["kind"], mod, list(entry["layers"]), int(entry["calls"]), key=workload_key(mod),
                        family=family))
    return out
