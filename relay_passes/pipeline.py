"""The pass order, written once: named phases from a float Relax model to scheduled kernels.

Every path runs :func:`run_pipeline`: ``tvm_sepnet.build`` (all phases, then ``tvm.compile`` with the
target's Relax -> VM pipeline, :mod:`.target_pipeline`), ``tvm_sepnet.quantize_model`` (up to the
quantized graph), tuning's task extraction and the accelerator tiling search (up to ``lower`` or
``offload``). The phases:

=======================  ===================================================================
phase                    passes (and what the report gets)
=======================  ===================================================================
``import``               bind params; ``WrapConvLayers``, ``BinarizeSignActivations``, ``FoldBatchNorm``,
                         ``FuseReLU``: every constant-weight conv becomes one ``sepnet.conv2d`` float
                         layer, or a sign layer when it reads ±s activations with ±alpha weights
``quantize_weights``     ``BinarizePatternConvs`` (k×k), ``QuantizePointwiseConvs`` (1×1); or, for a
                         model with its trainer's quantizers (``quantizers``), ``ApplyTrainerQuantizers``
                         (weights and activation quantizers as trained); NaN/Inf constants left
                         anywhere are an error
``quantize_activations`` calibration with the reference executor (``report.ranges``), then
                         ``QuantizeActivations``; skipped for float activations (``act_bits=None``) and
                         for trainer-quantized models (their quantizers are applied above)
``choose_kernels``       ``ChooseKxkKernels`` (bitserial or int8 per binary k×k layer)
``fuse_epilogues``       ``FuseResidualAdd`` + ``FuseReLU`` (integer layers only),
                         ``QuantizeSkipConnections`` (``skip_connections="quantized"``); the graph is then
                         exported for the reference executor (``report.graph``/``consts``);
                         ``ExposeLayerOutputs`` when probes are asked (``report.probes``)
``offload``              ``OffloadToAccelerator`` for ``fpga-sim`` targets (``report.offload``)
``lower``                ``LowerToKernels`` (``report.kernels``), ``LowerGlobalAvgPool``,
                         ``LowerDenseExact``, ``PromoteToFloat64``, ``FenceMultiplyAdd`` (float ops computed
                         as the reference executor computes them)
=======================  ===================================================================
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace

import numpy as np
import tvm
from tvm import relax

from tvm_sepnet.calibrate import calibrate, load_calibration, synthetic_inputs
from tvm_sepnet.errors import InvalidWeightsError, SepnetError
from tvm_sepnet.graph_export import export_graph
from tvm_sepnet.layer_precision import describe, normalize_rules
from tvm_sepnet.layer_precision import resolve as resolve_layer_rules
from tvm_sepnet.reference import ReferenceExecutor
from tvm_sepnet.targets import get_target
from tvm_sepnet.targets.accelerator import load_spec

from .apply_trainer_quantizers import ApplyTrainerQuantizers
from .binarize_pattern_convs import BinarizePatternConvs
from .binarize_sign_activations import BinarizeSignActivations
from .choose_kxk_kernels import ChooseKxkKernels
from .expose_layer_outputs import ExposeLayerOutputs
from .fence_multiply_add import FenceMultiplyAdd
from .fold_batch_norm import FoldBatchNorm
from .fuse_relu import FuseReLU
from .fuse_residual_add import FuseResidualAdd
from .lower_dense_exact import LowerDenseExact
from .lower_global_avg_pool import LowerGlobalAvgPool
from .lower_to_kernels import LowerToKernels
from .offload_to_accelerator import OffloadToAccelerator
from .promote_to_float64 import PromoteToFloat64
from .quantize_activations import QuantizeActivations
from .quantize_pointwise_convs import QuantizePointwiseConvs
from .quantize_skip_connections import QuantizeSkipConnections
from .report import PipelineReport
from .target_pipeline import build_pipeline, legalize_generic_ops
from .utils import apply_pass
from .wrap_conv_layers import MAX_WEIGHT_MAGNITUDE, WrapConvLayers

PHASES = ("import", "quantize_weights", "quantize_activations", "choose_kernels", "fuse_epilogues", "offload", "lower")


@dataclass(frozen=True)
class CompileConfig:
    """How a model is compiled (the options of ``tvm_sepnet.build``).

    kxk: ``binary`` (pattern-binarize k×k convs) or ``float``; pointwise: ``int8`` or ``float``;
    depthwise: weights of depthwise k×k convs, ``int8``, ``binary`` or ``float`` (None: ``float`` when both
    kxk and pointwise are float, else ``int8``; docs/lowbit.md); dense: matmuls by a constant matrix
    (Gemm / Linear) stay ``float`` matmuls, or become ``int8`` 1×1 layers (with pointwise int8);
    act_bits: activation bits of binary convs' inputs (1..8; int8 convs' inputs get 8), or None to keep
    activations float (the paper's numerics); keep_first: the first conv stays float; skip: layer
    names kept float; calib: None (synthetic data, see ``tvm_sepnet.calibrate``), an ``.npz`` path or a
    list of input dicts; calibration: ``minmax`` or ``percentile``; layer_names: names for the conv
    layers in program order (the ONNX node names); kernel_choice: how binary layers with quantized
    activations pick bitserial or int8 (``model``, ``measure``, ``bitserial``, ``int8``); fuse_epilogues:
    fold residual adds and their ReLU into the integer conv kernels; knobs: per-layer schedule knobs;
    probe_layers: ``main`` also returns every conv layer's output; dataflow: ``integer`` (producers write
    their consumers' input formats, relay_passes/plan_dataflow.py) or ``float`` (float32 between layers);
    skip_connections: ``quantized`` (a fused residual that an 8-bit layer also reads is carried as those
    8-bit codes, relay_passes/quantize_skip_connections.py), ``float``, or None: ``quantized`` for CPU
    targets, ``float`` for accelerator targets (the accelerator adds float residuals); layers: per-layer
    precision rules, (glob pattern, settings) pairs (``tvm_sepnet.layer_precision``: weights float / int8 /
    binary, activation bits, kernel), resolved against the conv layers' names in ``quantize_weights``
    (``report.layer_settings``); they override ``kxk``, ``pointwise``, ``depthwise``, ``keep_first``,
    ``act_bits`` and ``kernel_choice`` on the layers they match; quantizers: the
    trainer's quantizers by layer name (``LoadedModel.quantizers``): when given, they alone decide each
    layer's weights and activation quantizer (``kxk``, ``pointwise``, ``act_bits``, calibration and
    ``keep_first`` do not apply; relay_passes/apply_trainer_quantizers.py) and skip connections stay
    float (as the trainer added them).
    """

    kxk: str = "binary"
    pointwise: str = "int8"
    depthwise: str | None = None
    dense: str = "float"
    act_bits: int | None = 4
    keep_first: bool = True
    skip: tuple = ()
    calib: object = None
    calibration: str = "minmax"
    layer_names: tuple | None = None
    kernel_choice: str = "model"
    fuse_epilogues: bool = True
    knobs: dict = field(default_factory=dict)
    probe_layers: bool = False
    dataflow: str = "integer"
    skip_connections: str | None = None
    layers: tuple = ()
    quantizers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kxk not in ("binary", "float"):
            raise SepnetError(f"kxk must be 'binary' or 'float', got {self.kxk!r}")
        if self.pointwise not in ("int8", "float"):
            raise SepnetError(f"pointwise must be 'int8' or 'float', got {self.pointwise!r}")
        if self.depthwise not in (None, "int8", "binary", "float"):
            raise SepnetError(f"depthwise must be 'int8', 'binary' or 'float', got {self.depthwise!r}")
        if self.dense not in ("float", "int8"):
            raise SepnetError(f"dense must be 'float' or 'int8', got {self.dense!r}")
        if self.skip_connections not in (None, "quantized", "float"):
            raise SepnetError(f"skip_connections must be 'quantized' or 'float', got {self.skip_connections!r}")
        if self.dataflow not in ("integer", "float"):
            raise SepnetError(f"dataflow must be 'integer' or 'float', got {self.dataflow!r}")
        if self.act_bits is not None and not 1 <= int(self.act_bits) <= 8:
            raise SepnetError(f"act_bits must be in 1..8 or None (float activations), got {self.act_bits}")

    @classmethod
    def of(cls, *, knobs=None, layer_names=None, quantizers=None, **options) -> "CompileConfig":
        """A config from ``tvm_sepnet.build``-style keyword options (lists and dicts accepted)."""
        return cls(knobs=dict(knobs or {}), layer_names=tuple(layer_names) if layer_names else None,
                   quantizers=dict(quantizers or {}),
                   skip=tuple(options.pop("skip", ())), layers=normalize_rules(options.pop("layers", ())), **options)

    @property
    def depthwise_format(self) -> str:
        """The weight format of depthwise k×k convs (``depthwise``, or its default)."""
        if self.depthwise is not None:
            return self.depthwise
        return "float" if self.kxk == "float" and self.pointwise == "float" else "int8"

    def replace(self, **changes) -> "CompileConfig":
        return replace(self, **changes)

    def summary(self) -> dict:
        """The JSON-able config recorded in an artifact's ``meta.json``."""
        calib = self.calib
        if self.quantizers:
            return {"quantizers": "trainer", "trainer_layers": len(self.quantizers), "fuse_epilogues": self.fuse_epilogues,
                    "dataflow": self.dataflow, "kernel_choice": self.kernel_choice,
                    "skip_connections": self.skip_connections or "float"}
        return {"kxk": self.kxk, "pointwise": self.pointwise, "depthwise": self.depthwise_format, "dense": self.dense,
                "act_bits": self.act_bits, "keep_first": self.keep_first,
                "kernel_choice": self.kernel_choice, "fuse_epilogues": self.fuse_epilogues, "dataflow": self.dataflow,
                "skip_connections": self.skip_connections,
                "calibration": self.calibration if self.act_bits is not None else None,
                "calib": "synthetic" if calib is None else ("file" if isinstance(calib, (str, os.PathLike)) else "data"),
                **({"layers": describe(self.layers)} if self.layers else {})}


def _phase_import(mod, ctx):
    if ctx.params:
        mod = relax.transform.BindParams("main", ctx.params)(mod)
    names = list(ctx.config.layer_names) if ctx.config.layer_names else None
    dense = ctx.config.dense == "int8" and ctx.config.pointwise == "int8"
    return tvm.transform.Sequential([WrapConvLayers(names, dense=dense), BinarizeSignActivations(),
                                     FoldBatchNorm(), FuseReLU()],
                                    name="sepnet.import")(mod)


def _phase_quantize_weights(mod, ctx):
    cfg = ctx.config
    settings = ctx.report.layer_settings = _resolve_layer_rules(mod, cfg)
    by_weights = {w: tuple(n for n, s in settings.items() if s.get("weights") == w) for w in ("float", "int8", "binary")}
    skip = tuple(cfg.skip) + by_weights["float"]
    passes = []
    depthwise = cfg.depthwise_format
    if cfg.quantizers:
        passes = [ApplyTrainerQuantizers(cfg.quantizers)]
    else:
        if cfg.kxk == "binary" or depthwise == "binary" or by_weights["binary"]:
            passes.append(BinarizePatternConvs(keep_first=cfg.keep_first, skip=skip + by_weights["int8"], depthwise=depthwise,
                                               patterns=cfg.kxk == "binary", force=by_weights["binary"]))
        if cfg.pointwise == "int8" or depthwise == "int8" or by_weights["int8"]:
            passes.append(QuantizePointwiseConvs(skip=skip, depthwise=depthwise, pointwise=cfg.pointwise == "int8",
                                                 force=by_weights["int8"]))
    if passes:
        mod = tvm.transform.Sequential(passes, name="sepnet.quantize_weights")(mod)
    graph, consts = export_graph(mod)
    _check_constants(graph, consts)
    _check_binary_settings(graph, settings, cfg)
    return mod


def _resolve_layer_rules(mod, cfg) -> dict:
    """{layer: settings} of the config's per-layer rules over the module's conv layers (program order)."""
    if not cfg.layers:
        return {}
    graph, _ = export_graph(mod)
    names = [n["attrs"]["name"] for n in graph["nodes"] if n["op"] == "sepnet.conv2d"]
    return resolve_layer_rules(cfg.layers, names)


def _check_binary_settings(graph: dict, settings: dict, cfg) -> None:
    """Activation bits and kernels set per layer apply to binary layers with quantized activations."""
    formats = {n["attrs"]["name"]: n["attrs"]["weight_format"] for n in graph["nodes"] if n["op"] == "sepnet.conv2d"}
    for name, s in settings.items():
        what = [k for k in ("act_bits", "kernel") if k in s]
        if not what:
            continue
        if formats[name] != "binary":
            raise SepnetError(f"layer {name!r} has {formats[name]} weights: the {' and '.join(what)} set by a layer "
                              "rule apply to binary layers only (add 'binary' to the rule, or narrow its pattern)")
        if cfg.act_bits is None:
            raise SepnetError(f"layer {name!r}: the {' and '.join(what)} set by a layer rule need quantized "
                              "activations, but the config keeps activations float (set --act-bits)")


def _phase_quantize_activations(mod, ctx):
    cfg = ctx.config
    if cfg.act_bits is None or cfg.quantizers:
        return mod
    executor = ReferenceExecutor(*export_graph(mod))
    specs = executor.input_specs
    if cfg.calib is None:
        samples = synthetic_inputs(specs)
    elif isinstance(cfg.calib, (str, os.PathLike)):
        samples = load_calibration(str(cfg.calib), specs)
    else:
        samples = [executor.check_inputs(s) for s in cfg.calib]
    ctx.report.ranges = calibrate(executor, samples, cfg.calibration)
    layer_bits = {n: s["act_bits"] for n, s in ctx.report.layer_settings.items() if "act_bits" in s}
    return QuantizeActivations(ctx.report.ranges, act_bits=cfg.act_bits, layer_bits=layer_bits)(mod)


def _phase_choose_kernels(mod, ctx):
    if ctx.config.act_bits is None and not ctx.config.quantizers:
        return mod
    forced = {n: s["kernel"] for n, s in ctx.report.layer_settings.items() if "kernel" in s}
    return ChooseKxkKernels(ctx.config.kernel_choice, target=ctx.preset, forced=forced)(mod)


def _phase_fuse_epilogues(mod, ctx):
    if ctx.config.fuse_epilogues:  # only integer and sign layers take residuals (a float model is unchanged)
        passes = [FuseResidualAdd(), FuseReLU()]
        skip = ctx.config.skip_connections or ("float" if ctx.preset.accelerator or ctx.config.quantizers
                                               else "quantized")
        if skip == "quantized" and (ctx.config.act_bits is not None or ctx.config.quantizers):
            passes.append(QuantizeSkipConnections())
        mod = tvm.transform.Sequential(passes, name="sepnet.fuse_epilogues")(mod)
    ctx.report.graph, ctx.report.consts = export_graph(mod)
    if ctx.config.probe_layers:
        ctx.report.probes = [{"node": n["name"], "layer": n["attrs"]["name"]} for n in ctx.report.graph["nodes"]
                             if n["op"] == "sepnet.conv2d"]
        mod = ExposeLayerOutputs()(mod)
    return mod


def _phase_offload(mod, ctx):
    if not ctx.preset.accelerator:
        return mod
    ctx.report.spec = load_spec(ctx.preset.accelerator)
    ctx.report.model_id = ctx.model_id or uuid.uuid4().hex[:12]
    return OffloadToAccelerator(ctx.report.spec, ctx.report.model_id, ctx.config.knobs, tuned=ctx.accelerator_tuning,
                                report=ctx.report.offload)(mod)


def _phase_lower(mod, ctx):
    mod = LowerToKernels(ctx.preset, ctx.config.knobs, tuning=ctx.tuning, report=ctx.report.kernels,
                         dataflow=ctx.config.dataflow)(mod)
    exact = [LowerGlobalAvgPool(), LowerDenseExact(ctx.preset), PromoteToFloat64(), FenceMultiplyAdd()]
    return tvm.transform.Sequential(exact, name="sepnet.exact_float_ops")(mod)


_PHASE_FUNCS = {"import": _phase_import, "quantize_weights": _phase_quantize_weights,
                "quantize_activations": _phase_quantize_activations, "choose_kernels": _phase_choose_kernels,
                "fuse_epilogues": _phase_fuse_epilogues, "offload": _phase_offload, "lower": _phase_lower}


@dataclass
class _Context:
    preset: object
    config: CompileConfig
    report: PipelineReport
    params: dict | None = None
    tuning: object = None
    accelerator_tuning: object = None
    model_id: str | None = None


def run_pipeline(mod: tvm.IRModule, target="x86", config: CompileConfig | None = None, *, params=None,
                 tuning=None, accelerator_tuning=None, model_id: str | None = None, until: str = "lower",
                 on_phase=None):
    """Run the phases of the module docstring on a float Relax model, from ``import`` through
    ``until``; returns ``(module, PipelineReport)``.

    ``tuning`` (``tvm_sepnet.tuning.TuningRecords`` or an object with its ``lookup``/``knobs_for``)
    gives tuned schedules and knob choices to the lowering; ``accelerator_tuning``
    (``tvm_sepnet.tuning.accelerator.TunedTiling``) tuned tilings to the offload; ``model_id`` names the
    accelerator's programs (a fresh one by default); ``on_phase(name)`` is called before each phase
    (a progress bar). A tvm-sepnet error raised inside a pass reaches the caller with its own type."""
    if until not in PHASES:
        raise ValueError(f"unknown phase {until!r}; phases: {', '.join(PHASES)}")
    preset = get_target(target)
    ctx = _Context(preset, config or CompileConfig(), PipelineReport(), params, tuning, accelerator_tuning, model_id)
    for phase in PHASES[: PHASES.index(until) + 1]:
        if on_phase is not None:
            on_phase(phase)
        mod = apply_pass(lambda m, fn=_PHASE_FUNCS[phase]: fn(m, ctx), mod)
        ctx.report.phases.append(phase)
    return mod, ctx.report


def _check_constants(graph: dict, consts: dict) -> None:
    """Raise InvalidWeightsError for a NaN/Inf constant left outside conv layers (e.g. dense)."""
    owner = {}
    for node in graph["nodes"]:
        for a in node["args"]:
            if "const" in a:
                owner[a["const"]] = node
    for key, value in consts.items():
        if np.issubdtype(value.dtype, np.floating) and value.size and not (
                np.all(np.isfinite(value)) and float(np.max(np.abs(value))) <= MAX_WEIGHT_MAGNITUDE):
            node = owner[key]
            what = (f"layer {node['attrs']['name']!r} ({node['op']})" if node["op"] == "sepnet.conv2d"
                    else f"a constant operand of a {node['op']} op (a Gemm/MatMul weight, a bias, a scale)")
            raise InvalidWeightsError(
                f"{what}: constant of shape {value.shape} has NaN/Inf values or values beyond {MAX_WEIGHT_MAGNITUDE:g} "
                "(their products overflow float32); fix the model's weights before compiling")


__all__ = ["PHASES", "CompileConfig", "PipelineReport", "build_pipeline", "legalize_generic_ops", "run_pipeline"]
