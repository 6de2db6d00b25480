"""Per-target pass pipelines, in order.

``quantize_weights_pipeline`` is target independent (what the paper does to a trained network);
activation quantization needs calibration ranges, so it is a separate step
(:class:`QuantizeActivations`); ``lowering_pipeline`` is the per-target part.
"""
from __future__ import annotations

import tvm

from .binarize_pattern_convs import BinarizePatternConvs
from .fold_batch_norm import FoldBatchNorm
from .fuse_relu import FuseReLU
from .fuse_residual_add import FuseResidualAdd
from .lower_global_avg_pool import LowerGlobalAvgPool
from .lower_to_kernels import LowerToKernels
from .quantize_pointwise_convs import QuantizePointwiseConvs
from .wrap_conv_layers import WrapConvLayers


def quantize_weights_pipeline(kxk: str = "binary", pointwise: str = "int8", keep_first: bool = True,
                              skip=(), layer_names=None) -> tvm.transform.Sequential:
    """Wrap conv layers, fold batch norm and ReLU, binarize k×k and/or int8-quantize 1×1 weights."""
    if kxk not in ("binary", "float"):
        raise ValueError(f"kxk must be 'binary' or 'float', got {kxk!r}")
    if pointwise not in ("int8", "float"):
        raise ValueError(f"pointwise must be 'int8' or 'float', got {pointwise!r}")
    passes = [WrapConvLayers(layer_names), FoldBatchNorm(), FuseReLU()]
    if kxk == "binary":
        passes.append(BinarizePatternConvs(keep_first=keep_first, skip=skip))
    if pointwise == "int8":
        passes.append(QuantizePointwiseConvs(skip=skip))
    return tvm.transform.Sequential(passes, name="sepnet.quantize_weights")


def fuse_epilogues_pipeline() -> tvm.transform.Sequential:
    """Fold residual adds (PRB add, identity skip) and the ReLU after them into integer conv layers
    (runs after activation quantization: only integer kernels take a residual operand)."""
    return tvm.transform.Sequential([FuseResidualAdd(), FuseReLU()], name="sepnet.fuse_epilogues")


def lowering_pipeline(target="x86", knobs=None) -> tvm.transform.Sequential:
    """Lower the sepnet dialect to the target preset's kernels (then Relax's default pipeline runs)."""
    return tvm.transform.Sequential([LowerToKernels(target, knobs), LowerGlobalAvgPool()], name=f"sepnet.lower.{target}")


def legalize_generic_ops(mod, target="x86"):
    """``mod`` after the CPU legalization passes: the generic float ops as PrimFuncs (what the build
    pipeline schedules with schedules/generic, and what ``tvm-sepnet tune`` tunes as ``generic`` tasks)."""
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from tvm_sepnet.targets import get_target

    tvm_target = get_target(target).tvm_target()
    with tvm_target:
        return tvm.transform.Sequential(cpu_generic.legalize_passes(tvm_target))(mod)


def build_pipeline(target="x86", tuning=None):
    """Relax → VM pipeline for a preset: TVM's CPU pipeline with the generic ops scheduled
    (schedules/generic) after fusion; our kernels arrive already scheduled (``tirx.is_scheduled``).
    ``tuning`` (``tvm_sepnet.tuning.TuningRecords``): generic functions with a record measured faster
    than the hand rule get the tuned schedule."""
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic
    from tvm.s_tir import dlight

    from schedules.generic.x86 import generic_rule
    from tvm_sepnet.targets import get_target

    tvm_target = get_target(target).tvm_target()

    @tvm.transform.module_pass(opt_level=0, name="sepnet.apply_tuned_generic_ops")
    def _apply_tuned(mod, _ctx):
        if tuning is None:
            return mod
        from tvm_sepnet.tuning.tasks import is_generic_task

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
