"""``tvm_sepnet.build``: our ``relay.build``. Quantize, calibrate, lower and compile a Relax model.

The pass order is :func:`relay_passes.pipeline.run_pipeline`'s; this module turns its result into an
:class:`~tvm_sepnet.artifact.Artifact`: the compiled library (``tvm.compile`` with the target's Relax ->
VM pipeline), the quantized graph that the reference executor checks it against, and a layer table.
"""
from __future__ import annotations

import os

import tvm

from relay_passes.pipeline import PHASES, CompileConfig, build_pipeline, run_pipeline

from .artifact import ARTIFACT_FORMAT, Artifact, load
from .errors import InputMismatchError
from .report import layer_table
from .system_tools import require as require_tools
from .targets import get_target
from .targets.accelerator import load_spec
from .tuning.accelerator import TunedTiling
from .tuning.records import TuningRecords


def quantize_model(mod: tvm.IRModule, params=None, *, target="x86", **options) -> tvm.IRModule:
    """The quantized ``sepnet`` dialect module (before lowering) of a float Relax model: the pipeline's
    phases up to ``fuse_epilogues``. ``options`` are those of :func:`build` (see
    :class:`relay_passes.pipeline.CompileConfig`)."""
    qmod, _ = run_pipeline(mod, target, CompileConfig.of(**options), params=params, until="fuse_epilogues")
    return qmod


def build(mod: tvm.IRModule, target="x86", params=None, *, tuning=None, any_batch: bool = False, **options) -> Artifact:
    """Compile a float Relax model (function ``main``) into a pattern network for ``target``.

    ``options`` (:class:`relay_passes.pipeline.CompileConfig`): ``kxk`` (``binary``/``float``),
    ``pointwise`` (``int8``/``float``), ``act_bits`` (1..8 or None: float activations), ``keep_first``,
    ``skip``, ``calib`` (None: synthetic data; an ``.npz`` path; a list of input dicts),
    ``calibration`` (``minmax``/``percentile``), ``knobs`` (per-layer schedule knobs), ``layer_names``,
    ``probe_layers`` (``main`` also returns every conv layer's output, for
    :meth:`Artifact.check_layers`), ``kernel_choice`` (``model``, ``measure``, ``bitserial``, ``int8``),
    ``fuse_epilogues``, ``layers`` (per-layer precision rules: {glob pattern: "float" | "int8" | "binary" |
    "aN" | "bitserial" | "dot", comma separated}, or ``PATTERN=VALUE`` strings; ``tvm_sepnet.layer_precision``).

    ``tuning``: a ``tvm-sepnet tune`` work directory whose records replace hand schedules where they were
    measured faster (``meta["tuning"]`` reports how many kernels got a tuned schedule); records that
    match none of the model's kernels raise ``TuningMismatchError``.

    ``any_batch``: the model computes each image on its own (a zoo model, an ONNX model with a symbolic
    batch dimension): the artifact then runs any number of images in chunks of its compiled batch
    (:mod:`tvm_sepnet.batching`; recorded as ``graph["any_batch"]`` when every input and output leads
    with the batch).
    """
    preset = get_target(target)
    if preset.export_cc:  # before minutes of lowering: exporting the library needs the cross compiler
        require_tools(preset.export_cc, f"compiling for target {preset.name!r}")
    config = CompileConfig.of(**options)
    records = tiling = None
    if tuning is not None and preset.accelerator:
        tiling = TunedTiling(str(tuning), preset, load_spec(preset.accelerator))
    elif tuning is not None:
        records = TuningRecords(str(tuning), preset)
    from .progress import bar

    steps = bar(len(PHASES) + 1, "compile", unit="phase")

    def on_phase(name):
        steps.set_postfix_str(name)
        steps.update(0 if name == PHASES[0] else 1)

    lowered, report = run_pipeline(mod, preset, config, params=params, tuning=records, accelerator_tuning=tiling,
                                   on_phase=on_phase)
    on_phase("tvm.compile")
    accelerator = None
    if preset.accelerator:
        programs = report.offload.programs
        accelerator = {"spec": preset.accelerator, "description": report.spec.description(),
                       "model_id": report.model_id, "layers": list(programs)}
        if tiling is not None:
            tiling.check_matched()
            accelerator["tuning"] = tiling.summary()
    report.graph["any_batch"] = bool(any_batch) and _leads_with_batch(report.graph)
    lib = tvm.compile(lowered, target=preset.tvm_target(), relax_pipeline=build_pipeline(preset, tuning=records))
    steps.update(1)
    steps.close()
    if records is not None:
        records.check_matched()
    meta = {
        "format": ARTIFACT_FORMAT,
        "target": preset.name,
        "family": preset.family,
        "target_dict": preset.target_dict,
        "export_cc": preset.export_cc,
        "tvm_version": tvm.__version__,
        "config": config.summary(),
        "inputs": report.graph["inputs"],
        "outputs": report.graph["outputs"],
        "batch": int(report.graph["inputs"][0]["shape"][0]) if report.graph["inputs"][0]["shape"] else 1,
        "any_batch": report.graph["any_batch"],
        "probes": report.probes,
        "tuning": None if records is None else {"work_dir": os.path.abspath(str(tuning)), **records.summary()},
        "accelerator": accelerator,
        "layer_settings": report.layer_settings,  # what the per-layer rules set on each layer they match
        "layer_kernels": report.kernels.layer_kernels,  # kernel functions per conv layer, in call order (profiling)
        **layer_table(report.graph, report.consts, report.kernels.choices, report.kernels.traffic, report.layer_settings),
    }
    kernels = None
    if preset.family != "x86":  # kept for the static estimate of ARM kernels (tvm-sepnet estimate)
        tir = {gv.name_hint: tvm.ir.save_json(func) for gv, func in lowered.functions_items()
               if isinstance(func, tvm.tirx.PrimFunc) and func.attrs is not None and "tirx.is_scheduled" in func.attrs}
        kernels = {"layers": report.kernels.layer_kernels, "tir": tir}
    programs = dict(report.offload.programs) if preset.accelerator else None  # {} when nothing is offloaded
    return Artifact(lib, report.graph, report.consts, meta, kernels, programs)


def _leads_with_batch(graph: dict) -> bool:
    """Whether every input and output of ``graph`` has the same leading (batch) dimension."""
    shapes = {n["name"]: n.get("shape") for n in graph["nodes"]}
    lead = {tuple(s["shape"][:1]) for s in graph["inputs"]} | {tuple((shapes.get(o) or [])[:1]) for o in graph["outputs"]}
    return len(lead) == 1 and lead != {()}


__all__ = ["Artifact", "build", "load", "quantize_model", "InputMismatchError"]
