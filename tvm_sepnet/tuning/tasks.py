"""Tuning tasks: the distinct tunable kernels of a compiled model, with their hand schedules.

A task is one kernel shape (identical layer shapes share a task: ``LowerToKernels`` builds each
distinct kernel once), its unscheduled PrimFunc (the MetaSchedule workload), the trace of its hand
schedule and the layers that call it.

*Knob tasks* (``KNOB_KINDS``) are kernels whose knobs change their data layout (pointwise int8
convs: direct kernel or channel-word kernel, whose weight layout follows its register tile), so they
cannot be a MetaSchedule trace: their space is a list of knob settings (:meth:`Task.knob_space`),
each point complete kernels (:meth:`Task.build_point`), searched by :mod:`.knob_search`; ``key``
names the geometry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import tvm
from tvm import s_tir

from schedules.bitserial_conv2d import x86 as bitserial_x86
from schedules.float_conv2d_exact import x86 as float_x86
from schedules.generic import x86 as generic_x86
from schedules.int8_conv2d import x86 as int8_x86
from schedules.quantize import x86 as quantize_x86

from . import spaces

#: kind -> (MetaSchedule space function, hand-schedule function applying the default knobs to a Schedule)
KINDS = {
    "bitserial_conv2d": (spaces.bitserial_conv2d_space, bitserial_x86.apply),
    "int8_conv2d": (spaces.int8_conv2d_space, int8_x86.apply),  # the direct (tiled) kernel only
    "float_conv2d_exact": (spaces.float_conv2d_exact_space, float_x86.apply),  # the float first conv
    "generic": (spaces.generic_space, generic_x86.apply),  # legalized float ops (pooling, elementwise)
    "quantize": (spaces.quantize_space, quantize_x86.apply),  # quantize, quantize + bit packing
}
#: knob kinds -> (op whose family knobs apply, space of knob settings for a task, XGBoost features of a point)
KNOB_KINDS = {
    "int8_conv2d_pointwise": ("int8_conv2d", lambda task: int8_x86.pointwise_knob_space(task.extra["geometry"], task.knobs),
                              lambda task, point: pointwise_features(task.extra["geometry"], task.knobs, point)),
}
MIN_GENERIC_ITERATIONS = 4096  # smaller generic functions (reshape copies, tiny adds) are not worth a task


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
        """The family's default knob overrides of this kernel kind (schedules/families.py); for a knob
        task, with the layer's own knobs over them."""
        from schedules.families import schedule_module

        if self.kind in KNOB_KINDS:
            return {**schedule_module(KNOB_KINDS[self.kind][0], self.family)[1], **(self.extra.get("layer_knobs") or {})}
        return schedule_module(self.kind, self.family)[1]

    @property
    def is_knob_task(self) -> bool:
        return self.kind in KNOB_KINDS

    def knob_space(self) -> list[dict]:
        """A knob task's points (knob overrides), the default first."""
        return [{}] + KNOB_KINDS[self.kind][1](self)

    def features(self, point: dict) -> list[float]:
        return KNOB_KINDS[self.kind][2](self, point)

    def build_point(self, point: dict) -> list[tvm.IRModule]:
        """A knob task's kernels with the knob overrides ``point`` (the conv, and the quantize kernel
        it needs if it cannot quantize its input itself), as measurable modules: its cost is their sum."""
        return [workload_module(f) for f in self.extra["build"](point)]

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


def knob_tasks_of(lowered_knob_tasks: dict, family: str = "x86") -> list[Task]:
    """Tasks from ``LowerToKernels.knob_tasks``."""
    out = []
    for key, entry in lowered_knob_tasks.items():
        extra = {"build": entry["build"], "geometry": entry["geometry"], "layer_knobs": entry["knobs"]}
        mod = workload_module(entry["build"]({})[-1])
        out.append(Task(entry["kind"], mod, list(entry["layers"]), int(entry["calls"]), key=key, family=family,
                        extra=extra))
    return out


def pointwise_features(geo: dict, knobs, point: dict) -> list[float]:
    """XGBoost features of a pointwise-conv knob point: whether it is the channel-word kernel, and then
    its effective register tile, unroll, padding waste, parallel tasks and words per pixel."""
    from schedules.int8_conv2d import channel_words

    merged = {**(knobs or {}), **point}
    plan = int8_x86.word_plan(geo, merged)
    if plan is None:  # the direct kernel
        return [0.0] * 9
    isa = channel_words.WORD_ISAS[plan["layout"]]
    rn = channel_words.word_count(geo["cg"], isa.channels)
    vectors = -(-geo["ho"] * geo["wo"] // isa.lanes)
    tiles = -(-vectors // plan["tile_p"])
    to, tp = plan["tile_o"], plan["tile_p"]
    return [1.0, to, tp, to * tp, channel_words.unroll_factor(plan["unroll"], rn), tiles * tp / vectors,
            geo["n"] * geo["o"] // to * tiles, rn, vectors]


def generic_tasks(lowered_mod, preset) -> dict:
    """``LowerToKernels``-style task entries for the legalized generic PrimFuncs of a lowered module
    (what ``relay_passes.pipeline.build_pipeline`` legalizes and schedules with schedules/generic)."""
    from tvm import relax

    from relay_passes.pipeline import legalize_generic_ops

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


def is_generic_task(func) -> bool:
    """Whether a legalized, unscheduled PrimFunc is worth a ``generic`` tuning task (the hand rule
    applies and some loop nest has at least ``MIN_GENERIC_ITERATIONS`` iterations)."""
    if func.attrs is not None and "tirx.is_scheduled" in func.attrs:
        return False
    return _iterations(func) >= MIN_GENERIC_ITERATIONS and generic_x86.apply(s_tir.Schedule(workload_module(func)))


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
