"""The reference executor: runs an exported graph (graph_export) with numpy alone, no TVM.

It is the oracle of every numeric test. ``sepnet.conv2d`` layers run through the numpy twins in
``schedules/<op>/reference.py`` under the contract of docs/numerics.md (quantizers, bit packing, the
integer epilogue); the other ops run through the numpy twins of :mod:`tvm_sepnet.reference_ops`.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np

from schedules.bitserial_conv2d.packing import unpack_weights
from schedules.bitserial_conv2d.reference import grouped_conv2d_int
from schedules.common import act_range, epilogue_params, integer_epilogue_np
from schedules.decoded_weight_conv2d.reference import decoded_weight_conv2d
from schedules.float_conv2d_exact.reference import float_conv2d_exact
from schedules.int8_conv2d.reference import int8_conv2d
from schedules.quantize.reference import quantize
from schedules.xnor_conv2d.reference import xnor_conv2d

from .batching import run_any_batch
from .errors import InputMismatchError, UnsupportedOpError
from .reference_ops import GRAPH_OPS


def _geometry(a: dict) -> dict:
    return {"strides": tuple(a["strides"]), "padding": tuple(a["padding"]),
            "dilation": tuple(a["dilation"]), "groups": a["groups"]}


def run_conv_layer(x: np.ndarray, w, w_scale, bias, a: dict, residual: np.ndarray | None = None) -> np.ndarray:
    """One ``sepnet.conv2d`` layer (attrs ``a`` as in tvm_sepnet.ops) on float32 input ``x``; with
    ``a["residual"]`` the float32 ``residual`` is added to the epilogue result before the ReLU (quantized and
    dequantized first with ``a["residual_quant"]``, when set)."""
    if a.get("residual"):
        if residual is None:
            raise UnsupportedOpError(f"layer {a['name']!r}: residual layer without its residual operand")
        rq = a.get("residual_quant")
        if rq:  # the skip as codes of another layer's quantizer, dequantized
            lo, hi, dtype = act_range(rq["kind"], rq["bits"])
            residual = (quantize(residual, np.float32(rq["inv_scale"]), lo, hi, dtype).astype(np.float32)
                        * np.float32(rq["scale"])).astype(np.float32)
        y = run_conv_layer(x, w, w_scale, bias, {**a, "residual": False, "relu": False}) + residual
        return np.maximum(y, np.float32(0)) if a["relu"] else y
    geo = _geometry(a)
    act, fmt, relu = a["act"], a["weight_format"], a["relu"]
    cg = a["in_channels"] // a["groups"]
    if act["kind"] == "sign":  # ±1 activations (docs/numerics.md, "Sign layers")
        if fmt != "binary":
            raise UnsupportedOpError(f"layer {a['name']!r}: ±1 activations need binary weights, got {fmt!r}")
        return xnor_conv2d(x, unpack_weights(w, cg), w_scale, bias, pad_value=int(a.get("pad_value", 0)),
                           acc_relu=bool(a.get("acc_relu")), relu=relu, **geo)
    if act["kind"] == "float":
        if fmt == "float":
            return float_conv2d_exact(x, w, bias, relu=relu, **geo)
        return decoded_weight_conv2d(x, w, w_scale, bias, weight_format=fmt, channels_per_group=cg,
                                     relu=relu, **geo)
    inv = np.float32(act["inv_scale"])
    scale, offset = epilogue_params(act["scale"], w_scale, bias)
    lo, hi, qdtype = act_range(act["kind"], act["bits"])
    if fmt == "binary":
        # from the stored layout wb (O, KC, KH, KW): sum_c q * B (the kernels' packing is not involved)
        q = quantize(x, inv, lo, hi, qdtype)
        acc = grouped_conv2d_int(q, unpack_weights(w, cg), **geo)
        return integer_epilogue_np(acc, scale, offset, relu)
    if fmt == "int8":
        xq = quantize(x, inv, lo, hi, qdtype)
        return int8_conv2d(xq, w, scale, offset, relu=relu, **geo)
    raise UnsupportedOpError(f"layer {a['name']!r}: float weights with quantized activations are not supported")


class ReferenceExecutor:
    """Runs a graph exported by :func:`tvm_sepnet.graph_export.export_graph` with numpy."""

    def __init__(self, graph: dict, consts: dict):
        self.graph = graph
        self.consts = {k: np.asarray(v) for k, v in consts.items()}

    @classmethod
    def load(cls, json_path: str, npz_path: str) -> "ReferenceExecutor":
        with open(json_path, encoding="utf-8") as f:
            graph = json.load(f)
        with np.load(npz_path) as z:
            consts = {k: z[k] for k in z.files}
        return cls(graph, consts)

    @property
    def input_specs(self) -> list[dict]:
        return self.graph["inputs"]

    def check_inputs(self, inputs) -> dict:
        """Normalise ``inputs`` (array, list or name->array dict) and check names, shapes and dtypes."""
        specs = self.input_specs
        if not isinstance(inputs, dict):
            arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            if len(arrays) != len(specs):
                raise InputMismatchError(f"the model takes {len(specs)} input(s), got {len(arrays)}")
            inputs = {s["name"]: a for s, a in zip(specs, arrays)}
        out = {}
        for s in specs:
            if s["name"] not in inputs:
                raise InputMismatchError(
                    f"missing input {s['name']!r}; the model's inputs are {[t['name'] for t in specs]}")
            arr = np.asarray(inputs[s["name"]])
            if list(arr.shape) != list(s["shape"]) or str(arr.dtype) != s["dtype"]:
                raise InputMismatchError(
                    f"input {s['name']!r}: expected shape {tuple(s['shape'])} dtype {s['dtype']}, "
                    f"got shape {arr.shape} dtype {arr.dtype}")
            out[s["name"]] = arr
        extra = set(inputs) - {s["name"] for s in specs}
        if extra:
            raise InputMismatchError(f"unknown input(s) {sorted(extra)}; expected {[s['name'] for s in specs]}")
        return out

    def _value(self, arg, env):
        if "var" in arg:
            return env[arg["var"]]
        if "const" in arg:
            return self.consts[arg["const"]]
        if "tuple" in arg:
            return [self._value(a, env) for a in arg["tuple"]]
        if "shape" in arg:
            return tuple(arg["shape"])
        return arg["value"]

    def run(self, inputs, observe: Callable | None = None, keep=()) -> list[np.ndarray]:
        """Outputs for ``inputs``, then the values of the nodes named in ``keep``;
        ``observe(node, args)`` is called before each node runs."""
        chunked = run_any_batch(lambda chunk: self.run(chunk, observe, keep), inputs, self.input_specs,
                                bool(self.graph.get("any_batch")))
        if chunked is not None:  # any batch N: chunks of the compiled batch (tvm_sepnet.batching)
            return chunked
        env = dict(self.check_inputs(inputs))
        for node in self.graph["nodes"]:
            args = [self._value(a, env) for a in node["args"]]
            if observe is not None:
                observe(node, args)
            if node["op"] == "sepnet.conv2d":
                env[node["name"]] = run_conv_layer(*args[:4], node["attrs"], *args[4:])
            elif node["op"] in GRAPH_OPS:
                env[node["name"]] = GRAPH_OPS[node["op"]](node["attrs"], *args)
            else:
                raise UnsupportedOpError(f"node {node['name']!r}: op {node['op']!r} is not supported")
        return [env[name] for name in list(self.graph["outputs"]) + list(keep)]
