"""The per-target Relax -> VM pipeline that ``tvm.compile`` runs after the sepnet phases
(:mod:`relay_passes.pipeline`): TVM's CPU pipeline (library dispatch, legalization, fusion, lowering)
with the legalized generic float ops (pooling, elementwise) scheduled by ``schedules/generic`` rules,
or by their tuned schedules. Our kernels arrive already scheduled (``tirx.is_scheduled``).
"""
from __future__ import annotations

import tvm
from tvm.relax.backend.cpu_generic import pipeline as cpu_generic
from tvm.s_tir import dlight

from schedules.generic.cpu import generic_rule
from schedules.generic.space import is_generic_task
from tvm_sepnet.targets import get_target


def legalize_generic_ops(mod, target="x86"):
    """``mod`` after the CPU legalization passes: the generic float ops as PrimFuncs (what the build
    pipeline schedules with schedules/generic, and what ``tvm-sepnet tune`` tunes as ``generic`` tasks)."""
    tvm_target = get_target(target).tvm_target()
    with tvm_target:
        return tvm.transform.Sequential(cpu_generic.legalize_passes(tvm_target))(mod)


def build_pipeline(target="x86", tuning=None):
    """Relax → VM pipeline for a preset: TVM's CPU pipeline with the generic ops scheduled
    (schedules/generic) after fusion; our kernels arrive already scheduled (``tirx.is_scheduled``).
    ``tuning`` (``tvm_sepnet.tuning.TuningRecords``): generic functions with a record measured faster
    than the hand rule get the tuned schedule."""
    tvm_target = get_target(target).tvm_target()

    @tvm.transform.module_pass(opt_level=0, name="sepnet.apply_tuned_generic_ops")
    def _apply_tuned(mod, _ctx):
        if tuning is None:
            return mod
        for gv, func in list(mod.functions_items()):
            if not isinstance(func, tvm.tirx.PrimFunc) or not is_generic_task(func):
                continue
            tuned = tuning.lookup({"kind": "generic", "unscheduled": func, "layers": [gv.name_hint]})
            if tuned is not None:
                mod[gv] = tuned.with_attr("tirx.is_scheduled", True)
        return mod

    @tvm.transform.module_pass(opt_level=0, name=f"sepnet.build.{get_target(target).name}")
    def _pipeline(mod, _ctx):
        with tvm_target:
            seq = tvm.transform.Sequential(
                cpu_generic.library_dispatch_passes(tvm_target)
                + cpu_generic.legalize_passes(tvm_target)
                + [_apply_tuned, dlight.ApplyDefaultSchedule(generic_rule())]
                + cpu_generic.dataflow_lower_passes(tvm_target)
                + cpu_generic.finalize_passes(tvm_target)
            )
            return seq(mod)

    return _pipeline
