"""``tvm_sepnet.build``: our ``relay.build``. Quantize, calibrate, lower and compile a Relax model.

The result is an :class:`Artifact`: the compiled library plus the quantized graph that the
reference executor checks it against, and a layer table. ``export(dir)`` writes it atomically
(a temporary folder renamed into place, so an interrupted export never leaves a half-written
artifact); :func:`load` reads it back.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np
import tvm
from tvm import relax

from relay_passes.pipeline import build_pipeline, fuse_epilogues_pipeline
from relay_passes.utils import apply_pass
from relay_passes import (ChooseKxkKernels, ExposeLayerOutputs, LowerGlobalAvgPool, LowerToKernels, OffloadToAccelerator,
                          QuantizeActivations, quantize_weights_pipeline)

from .calibrate import calibrate, load_calibration, synthetic_inputs
from .errors import InputMismatchError, InvalidWeightsError, SepnetError
from .graph_export import export_graph, save_graph
from .reference import ReferenceExecutor
from .report import layer_table
from .targets import get_target, why_not_runnable_here

ARTIFACT_FORMAT = 1
LIB_NAME, GRAPH_JSON, GRAPH_NPZ, META_JSON = "model.so", "graph.json", "graph.npz", "meta.json"
KERNELS_JSON = "kernels.json"  # ARM artifacts: each layer's scheduled kernels (TIR), for tvm-sepnet estimate
FPGA_JSON, FPGA_NPZ = "fpga.json", "fpga.npz"  # fpga-sim artifacts: the offloaded layers' programs


def _check_constants(graph: dict, consts: dict) -> None:
    """Raise InvalidWeightsError for a NaN/Inf constant left outside conv layers (e.g. dense)."""
    owner = {}
    for node in graph["nodes"]:
        for a in node["args"]:
            if "const" in a:
                owner[a["const"]] = node
    for key, value in consts.items():
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            node = owner[key]
            name = node["attrs"].get("name", node["name"]) if node["op"] == "sepnet.conv2d" else node["name"]
            raise InvalidWeightsError(
                f"layer {name!r} ({node['op']}): constant of shape {value.shape} has NaN/Inf values; "
                "fix the model's weights before compiling")


def quantize_model(mod: tvm.IRModule, params=None, *, kxk="binary", pointwise="int8", act_bits=4,
                   keep_first=True, skip=(), calib=None, calibration="minmax", layer_names=None,
                   kernel_choice="model", target="x86", fuse_epilogues=True) -> tvm.IRModule:
    """The quantized ``sepnet`` dialect module (before lowering) of a float Relax model;
    ``fuse_epilogues`` folds residual adds + ReLU into the integer conv layers."""
    if params:
        mod = relax.transform.BindParams("main", params)(mod)
    mod = apply_pass(quantize_weights_pipeline(kxk=kxk, pointwise=pointwise, keep_first=keep_first, skip=skip,
                                               layer_names=layer_names), mod)
    graph, consts = export_graph(mod)
    _check_constants(graph, consts)
    if act_bits is None:
        return mod
    executor = ReferenceExecutor(graph, consts)
    if calib is None:
        samples = synthetic_inputs(graph["inputs"])
    elif isinstance(calib, (str, os.PathLike)):
        samples = load_calibration(str(calib), graph["inputs"])
    else:
        samples = [executor.check_inputs(s) for s in calib]
    ranges = calibrate(executor, samples, calibration)
    mod = QuantizeActivations(ranges, act_bits=act_bits)(mod)
    mod = ChooseKxkKernels(kernel_choice, target=target)(mod)
    return apply_pass(fuse_epilogues_pipeline(), mod) if fuse_epilogues else mod


class Artifact:
    """A compiled model: run it, inspect its layers, export it."""

    def __init__(self, lib, graph: dict, consts: dict, meta: dict, kernels: dict | None = None, programs=None):
        self.lib = lib  # tvm.runtime.Executable or Module
        self.graph = graph
        self.consts = consts
        self.meta = meta
        self.kernels = kernels  # {"layers": {layer: [kernel names]}, "tir": {kernel name: TIR JSON}} or None
        self.programs = programs  # fpga-sim: {layer: tvm_sepnet.fpga.compiler.LayerProgram} or None
        self._vm = None

    @property
    def accelerator(self):
        """The accelerator spec of an fpga-sim artifact, else None."""
        acc = self.meta.get("accelerator")
        if not acc:
            return None
        from .fpga.spec import load_spec

        return load_spec(acc["spec"])

    @property
    def layers(self) -> list[dict]:
        return self.meta["layers"]

    @property
    def input_specs(self) -> list[dict]:
        return self.graph["inputs"]

    def reference(self) -> ReferenceExecutor:
        return ReferenceExecutor(self.graph, self.consts)

    def _check_runnable_here(self):
        why = why_not_runnable_here(get_target(self.meta["target"]))
        if why:
            raise SepnetError(why)

    @property
    def vm(self):
        if self._vm is None:
            self._check_runnable_here()
            if self.programs:
                from .fpga.runtime import register_programs

                register_programs(self.meta["accelerator"]["model_id"], self.programs, self.accelerator)
            self._vm = relax.VirtualMachine(self.lib, tvm.cpu())
        return self._vm

    def run(self, inputs) -> list[np.ndarray]:
        """Outputs (numpy) for ``inputs`` (an array, a list, or a name -> array dict)."""
        checked = self.reference().check_inputs(inputs)
        args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in self.input_specs]
        out = self.vm["main"](*args)
        outs = out if isinstance(out, (list, tuple)) or type(out).__name__ == "Array" else [out]
        return [o.numpy() for o in outs]

    def time(self, inputs, number: int = 10, repeat: int = 5) -> float:
        """Median seconds per run of ``main`` (TVM time_evaluator)."""
        checked = self.reference().check_inputs(inputs)
        args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in self.input_specs]
        timer = self.vm.time_evaluator("main", tvm.cpu(), number=number, repeat=repeat)
        return float(timer(*args).median)

    def assembly(self) -> str:
        """Assembly of the compiled kernels (host targets; for inspection and tests)."""
        mod = self.lib.mod if hasattr(self.lib, "mod") else self.lib
        return "\n".join(m.inspect_source("asm") for m in mod.imports if getattr(m, "kind", "") == "llvm")

    def check_layers(self, inputs) -> list[dict]:
        """Per probed layer (build with ``probe_layers=True``): name, kind, max_abs_err, bit_exact."""
        probes = self.meta.get("probes")
        if not probes:
            raise SepnetError("this artifact has no layer probes; build it with probe_layers=True")
        n_out = len(self.graph["outputs"])
        got = self.run(inputs)[n_out:]
        ref = self.reference().run(inputs, keep=[p["node"] for p in probes])[n_out:]
        kinds = {r["name"]: r["kind"] for r in self.layers}
        return [{"name": p["layer"], "kind": kinds.get(p["layer"]), "bit_exact": bool(np.array_equal(g, r)),
                 "max_abs_err": float(np.max(np.abs(g.astype(np.float64) - r)))}
                for p, g, r in zip(probes, got, ref)]

    def check(self, inputs, rtol: float = 1e-5) -> dict:
        """Compare with the reference executor: max_abs_err, max_rel_err (to max|ref|), match (within
        ``rtol``) and bit_exact."""
        n_out = len(self.graph["outputs"])
        got = self.run(inputs)[:n_out]
        ref = self.reference().run(inputs)
        err = max(float(np.max(np.abs(g.astype(np.float64) - r))) for g, r in zip(got, ref))
        scale = max(float(np.max(np.abs(r))) for r in ref) or 1.0
        finite = all(np.all(np.isfinite(g)) for g in got)
        return {"max_abs_err": err, "max_rel_err": err / scale, "match": bool(finite and err <= rtol * scale),
                "bit_exact": all(np.array_equal(g, r) for g, r in zip(got, ref)), "outputs": got, "reference": ref}

    def export(self, path: str) -> str:
        """Write the artifact folder ``path`` atomically; returns the path."""
        path = os.path.abspath(path)
        parent = os.path.dirname(path) or "."
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-artifact-", dir=parent)
        try:
            cc = self.meta.get("export_cc")
            if cc:
                from tvm.support import cc as tcc
                self.lib.export_library(os.path.join(tmp, LIB_NAME), fcompile=tcc.cross_compiler(cc))
            else:
                self.lib.export_library(os.path.join(tmp, LIB_NAME))
            save_graph(self.graph, self.consts, os.path.join(tmp, GRAPH_JSON), os.path.join(tmp, GRAPH_NPZ))
            with open(os.path.join(tmp, META_JSON), "w", encoding="utf-8") as f:
                json.dump(self.meta, f, indent=1)
            if self.kernels is not None:
                with open(os.path.join(tmp, KERNELS_JSON), "w", encoding="utf-8") as f:
                    json.dump(self.kernels, f)
            if self.programs:
                from .fpga.runtime import save_programs

                save_programs(self.programs, os.path.join(tmp, FPGA_JSON), os.path.join(tmp, FPGA_NPZ))
            if os.path.isdir(path):
                old = path + ".old"
                shutil.rmtree(old, ignore_errors=True)
                os.rename(path, old)
                os.rename(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def build(mod: tvm.IRModule, target="x86", params=None, *, kxk="binary", pointwise="int8", act_bits=4,
          keep_first=True, skip=(), calib=None, calibration="minmax", knobs=None, layer_names=None,
          probe_layers=False, kernel_choice="model", fuse_epilogues=True, tuning=None) -> Artifact:
    """Compile a float Relax model (function ``main``) into a pattern network for ``target``.

    kxk: ``binary`` (pattern-binarize k×k convs) or ``float``; pointwise: ``int8`` or ``float``;
    act_bits: activation bits of binary convs' inputs (1..8; int8 convs' inputs get 8), or None to
    keep activations float (the paper's numerics); calib: None (synthetic data, see calibrate.py),
    an ``.npz`` path or a list of input dicts; knobs: per-layer schedule knobs; layer_names: names
    for the conv layers in program order (the ONNX node names); probe_layers: ``main`` also returns every
    conv layer's output (for :meth:`Artifact.check_layers`); kernel_choice: how binary layers with
    quantized activations pick bitserial or int8 (``model``, ``measure``, ``bitserial``, ``int8``;
    relay_passes/choose_kxk_kernels.py); fuse_epilogues: fold residual adds and their ReLU into the
    integer conv kernels (relay_passes/fuse_residual_add.py; False keeps them separate ops);
    tuning: a ``tvm-sepnet tune`` work directory whose records replace hand schedules where they were
    measured faster (``meta["tuning"]`` reports how many kernels got a tuned schedule); records that
    match none of the model's kernels raise ``TuningMismatchError``.
    """
    preset = get_target(target)
    qmod = quantize_model(mod, params, kxk=kxk, pointwise=pointwise, act_bits=act_bits, keep_first=keep_first,
                          skip=skip, calib=calib, calibration=calibration, layer_names=layer_names,
                          kernel_choice=kernel_choice, target=preset, fuse_epilogues=fuse_epilogues)
    graph, consts = export_graph(qmod)
    records = None
    if tuning is not None and not preset.accelerator:
        from .tuning.records import TuningRecords

        records = TuningRecords(str(tuning), preset)
    lower = LowerToKernels(preset, knobs, tuning=records)
    probes = []
    if probe_layers:
        probes = [{"node": n["name"], "layer": n["attrs"]["name"]} for n in graph["nodes"] if n["op"] == "sepnet.conv2d"]
        qmod = ExposeLayerOutputs()(qmod)
    programs, accelerator = None, None
    if preset.accelerator:
        import uuid

        from .fpga.spec import load_spec

        from .fpga.tuning import TunedTiling

        spec = load_spec(preset.accelerator)
        tuned = TunedTiling(str(tuning), preset, spec) if tuning is not None else None
        offload = OffloadToAccelerator(spec, uuid.uuid4().hex[:12], knobs, tuned=tuned)
        qmod = offload(qmod)
        programs = offload.programs
        accelerator = {"spec": preset.accelerator, "description": spec.description(), "model_id": offload.model_id,
                       "layers": list(programs)}
        if tuned is not None:
            tuned.check_matched()
            accelerator["tuning"] = tuned.summary()
    lowered = LowerGlobalAvgPool()(lower(qmod))
    tvm_target = preset.tvm_target()
    lib = tvm.compile(lowered, target=tvm_target, relax_pipeline=build_pipeline(preset, tuning=records))
    if records is not None:
        records.check_matched()
    config = {"kxk": kxk, "pointwise": pointwise, "act_bits": act_bits, "keep_first": keep_first,
              "kernel_choice": kernel_choice, "fuse_epilogues": fuse_epilogues,
              "calibration": calibration if act_bits is not None else None,
              "calib": "synthetic" if calib is None else ("file" if isinstance(calib, (str, os.PathLike)) else "data")}
    table = layer_table(graph, consts, lower.choices)
    meta = {
        "format": ARTIFACT_FORMAT,
        "target": preset.name,
        "family": preset.family,
        "target_dict": preset.target_dict,
        "export_cc": preset.export_cc,
        "tvm_version": tvm.__version__,
        "config": config,
        "inputs": graph["inputs"],
        "outputs": graph["outputs"],
        "probes": probes,
        "tuning": None if records is None else {"work_dir": os.path.abspath(str(tuning)), **records.summary()},
        "accelerator": accelerator,
        "layer_kernels": lower.layer_kernels,  # kernel functions per conv layer, in call order (profiling)
        **table,
    }
    kernels = None
    if preset.family != "x86":  # kept for the static estimate of ARM kernels (tvm-sepnet estimate)
        tir = {gv.name_hint: tvm.ir.save_json(func) for gv, func in lowered.functions_items()
               if isinstance(func, tvm.tirx.PrimFunc) and func.attrs is not None and "tirx.is_scheduled" in func.attrs}
        kernels = {"layers": lower.layer_kernels, "tir": tir}
    return Artifact(lib, graph, consts, meta, kernels, programs)


def load(path: str) -> Artifact:
    """Load an artifact folder written by :meth:`Artifact.export`."""
    meta_path = os.path.join(path, META_JSON)
    if not os.path.isfile(meta_path):
        raise SepnetError(f"{path!r} is not a tvm-sepnet artifact (no {META_JSON}); compile one with tvm-sepnet compile")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != ARTIFACT_FORMAT:
        raise SepnetError(f"{path!r}: artifact format {meta.get('format')} is not supported (expected {ARTIFACT_FORMAT})")
    ref = ReferenceExecutor.load(os.path.join(path, GRAPH_JSON), os.path.join(path, GRAPH_NPZ))
    lib_path = os.path.join(path, LIB_NAME)
    lib = tvm.runtime.load_module(lib_path) if meta["family"] == "x86" else lib_path
    programs = None
    if meta.get("accelerator"):
        from .fpga.runtime import load_programs

        programs = load_programs(os.path.join(path, FPGA_JSON), os.path.join(path, FPGA_NPZ))
    return Artifact(lib, ref.graph, ref.consts, meta, programs=programs)


__all__ = ["Artifact", "build", "load", "quantize_model", "InputMismatchError"]
