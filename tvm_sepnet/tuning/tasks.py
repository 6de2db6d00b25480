"""Tuning tasks: the distinct tunable kernels of a compiled model, with their hand schedules.

A task is one kernel shape (identical layer shapes share a task: ``LowerToKernels`` builds each
distinct kernel once), its unscheduled PrimFunc (the MetaSchedule workload), the trace of its hand
schedule and the layers that call it.

*Knob tasks* (the ``KNOB_SPACES`` kinds of the op folders, :mod:`.kinds`) are kernels whose knobs change their data layout
(pointwise int8
convs: direct kernel or channel-word kernel, whose weight layout follows its register tile), so they
cannot be a MetaSchedule trace: their space is a list of knob settings (:meth:`Task.knob_space`),
each point complete kernels (:meth:`Task.build_point`), searched by :mod:`tvm_sepnet.autotune.knob_search`; ``key``
names the geometry.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import tvm
from tvm import relax, s_tir

from relay_passes.pipeline import legalize_generic_ops
from schedules.families import FEATURE_KNOBS, feature_knobs, oihw_o_per_group, schedule_module
from schedules.generic.space import is_generic_task
from schedules.schedule_utils import workload_module

from .kinds import knob_spaces, spaces


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
    cpu_features: tuple = ()  # CPU features of the target preset (feature-dependent default knobs)

    @property
    def name(self) -> str:
        first = self.layers[0] if self.layers else "?"
        more = f"+{len(self.layers) - 1}" if len(self.layers) > 1 else ""
        return f"{self.kind}[{first}{more}]"

    @property
    def knobs(self) -> dict:
        """The family's default knob overrides of this kernel kind (schedules/families.py, with those of the
        preset's CPU features: what the build uses as the hand schedule); for a knob task, with the layer's own
        knobs over them."""
        if self.is_knob_task:
            op = knob_spaces()[self.kind][0]
            return {**schedule_module(op, self.family)[1], **(self.extra.get("layer_knobs") or {})}
        knobs = schedule_module(self.kind, self.family)[1]
        if self.kind in FEATURE_KNOBS:  # conv kernels (x, w, ...)
            knobs.update(feature_knobs(self.kind, self.family, self.cpu_features, oihw_o_per_group(self.mod["main"])))
        return knobs

    @property
    def is_knob_task(self) -> bool:
        return self.kind in knob_spaces()

    def knob_space(self) -> list[dict]:
        """A knob task's points (knob overrides), the default first."""
        return [{}] + knob_spaces()[self.kind][1](self.extra["geometry"], self.knobs)

    def features(self, point: dict) -> list[float]:
        return knob_spaces()[self.kind][2](self.extra["geometry"], self.knobs, point)

    def build_point(self, point: dict) -> list[tvm.IRModule]:
        """A knob task's kernels with the knob overrides ``point`` (the conv, and the quantize kernel
        it needs if it cannot quantize its input itself), as measurable modules: its cost is their sum."""
        return [workload_module(f) for f in self.extra["build"](point)]

    def hand_schedule(self) -> s_tir.Schedule:
        """The hand schedule of the workload, as a Schedule (its trace is replayable on ``mod``)."""
        sch = s_tir.Schedule(self.mod)
        spaces()[self.kind][1](sch, self.knobs)
        return sch

    def space(self):
        """The design-space function for ``ms.space_generator.ScheduleFn``."""
        return functools.partial(spaces()[self.kind][0], knobs=self.knobs)


def workload_key(mod: tvm.IRModule) -> str:
    """MetaSchedule's structural-hash key of a workload module."""
    from tvm.s_tir import meta_schedule as ms

    return str(ms.database.MemoryDatabase().commit_workload(mod).as_json()[0])


def tasks_of(lowered_tasks: dict, family: str = "x86", features=()) -> list[Task]:
    """Tasks from ``LowerToKernels.tasks`` (only kinds that have a design space); ``features``: the
    preset's CPU features."""
    out = []
    for entry in lowered_tasks.values():
        if entry["kind"] not in spaces():
            continue
        mod = workload_module(entry["unscheduled"])
        out.append(Task(entry["kind"], mod, list(entry["layers"]), int(entry["calls"]), key=workload_key(mod),
                        family=family, cpu_features=tuple(sorted(features))))
    return out


def knob_tasks_of(lowered_knob_tasks: dict, family: str = "x86") -> list[Task]:
    """Tasks from ``LowerToKernels.knob_tasks``."""
    out = []
    for key, entry in lowered_knob_tasks.items():
        extra = {"build": entry["build"], "geometry": entry["geometry"], "layer_knobs": entry["knobs"]}
        mod = workload_module(entry["build"]({})[-1])
        out.append(Task(entry["kind"], mod, list(entry["layers"]), int(entry["calls"]), key=key, family=family,
                        extra=extra))
    return out


def generic_tasks(lowered_mod, preset) -> dict:
    """``LowerToKernels``-style task entries for the legalized generic PrimFuncs of a lowered module
    (what ``relay_passes.pipeline.build_pipeline`` legalizes and schedules with schedules/generic)."""
    mod = legalize_generic_ops(lowered_mod, preset)
    calls: dict[str, int] = {}
    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            for block in func.body.blocks:
                for b in block.bindings:
                    v = b.value
                    if isinstance(v, relax.Call) and getattr(v.op, "name", "") == "relax.call_tir":
                        calls[v.args[0].name_hint] = calls.get(v.args[0].name_hint, 0) + 1
    out = {}
    for gv, func in mod.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc):
            continue
        if gv.name_hint not in calls or not is_generic_task(func):
            continue
        out[f"generic({gv.name_hint})"] = {"kind": "generic", "unscheduled": func, "layers": [gv.name_hint],
                                           "calls": calls[gv.name_hint]}
    return out
