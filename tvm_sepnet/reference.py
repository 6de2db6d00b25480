"""The reference executor: runs an exported graph (graph_export) with numpy alone, no TVM.

It is the oracle of every numeric test. ``sepnet.conv2d`` layers run through the numpy twins in
``schedules/<op>/reference.py`` under the contract of docs/numerics.md (quantizers, bit packing, the
integer epilogue); the other ops follow their Relax/ONNX definitions in float32.
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

from .errors import InputMismatchError, UnsupportedOpError


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


def _pool_pad(x, pool, strides, padding, ceil_mode, fill):
    top, left, bottom, right = padding
    n, c, h, w = x.shape
    def extra(size, k, s, lo, hi):
        if not ceil_mode:
            return 0
        out = -(-(size + lo + hi - k) // s) + 1
        return max(0, (out - 1) * s + k - (size + lo + hi))
    eb = extra(h, pool[0], strides[0], top, bottom)
    er = extra(w, pool[1], strides[1], left, right)
    return np.pad(x, ((0, 0), (0, 0), (top, bottom + eb), (left, right + er)), constant_values=fill)


def _windows(xp, pool, strides, dilation):
    n, c, h, w = xp.shape
    ho = (h - dilation[0] * (pool[0] - 1) - 1) // strides[0] + 1
    wo = (w - dilation[1] * (pool[1] - 1) - 1) // strides[1] + 1
    views = [xp[:, :, i * dilation[0]: i * dilation[0] + strides[0] * (ho - 1) + 1: strides[0],
                j * dilation[1]: j * dilation[1] + strides[1] * (wo - 1) + 1: strides[1]]
             for i in range(pool[0]) for j in range(pool[1])]
    return np.stack(views, axis=0)


def max_pool2d(x, a):
    xp = _pool_pad(x, a["pool_size"], a["strides"], a["padding"], a["ceil_mode"], -np.inf)
    return _windows(xp, a["pool_size"], a["strides"], a["dilation"]).max(axis=0).astype(np.float32)


def avg_pool2d(x, a):
    xp = _pool_pad(x, a["pool_size"], a["strides"], a["padding"], a["ceil_mode"], 0.0)
    s = _windows(xp, a["pool_size"], a["strides"], a["dilation"]).astype(np.float64).sum(axis=0)
    if a.get("count_include_pad"):
        return (s / (a["pool_size"][0] * a["pool_size"][1])).astype(np.float32)
    ones = _pool_pad(np.ones_like(x), a["pool_size"], a["strides"], a["padding"], a["ceil_mode"], 0.0)
    cnt = _windows(ones, a["pool_size"], a["strides"], a["dilation"]).sum(axis=0)
    return (s / cnt).astype(np.float32)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _batch_norm(x, g, b, m, v, a):
    if a.get("training"):
        raise UnsupportedOpError("batch_norm with training=True (batch statistics) is not supported; "
                                 "export the model in inference mode")
    shape = [1] * x.ndim
    shape[a["axis"]] = -1
    g = g if a.get("scale", True) else np.ones_like(g)
    b = b if a.get("center", True) else np.zeros_like(b)
    k = g.reshape(shape) / np.sqrt(v.reshape(shape) + np.float32(a["epsilon"]))
    return ((x - m.reshape(shape)) * k + b.reshape(shape)).astype(np.float32), m, v


def _adaptive_avg_pool2d(x, a):
    size = a.get("output_size") or [1, 1]
    if list(size) != [1, 1]:
        raise UnsupportedOpError(f"adaptive_avg_pool2d to {size} is not supported (only 1x1)")
    return x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)


_SIMPLE: dict[str, Callable] = {
    "add": lambda a, x, y: x + y,
    "subtract": lambda a, x, y: x - y,
    "multiply": lambda a, x, y: x * y,
    "divide": lambda a, x, y: x / y,
    "maximum": lambda a, x, y: np.maximum(x, y),
    "minimum": lambda a, x, y: np.minimum(x, y),
    "nn.relu": lambda a, x: np.maximum(x, np.float32(0)),
    "sigmoid": lambda a, x: (1 / (1 + np.exp(-x))).astype(x.dtype),
    "identity": lambda a, x: x,
    "nn.max_pool2d": lambda a, x: max_pool2d(x, a),
    "nn.avg_pool2d": lambda a, x: avg_pool2d(x, a),
    "nn.adaptive_avg_pool2d": lambda a, x: _adaptive_avg_pool2d(x, a),
    "mean": lambda a, x: x.astype(np.float64).mean(axis=tuple(a["axis"]), keepdims=a["keepdims"]).astype(x.dtype),
    "reshape": lambda a, x, shape: x.reshape(shape),
    "flatten": lambda a, x: x.reshape(x.shape[0], -1),
    "permute_dims": lambda a, x: np.transpose(x, a["axes"]),
    "concat": lambda a, xs: np.concatenate(xs, axis=a["axis"]),
    "matmul": lambda a, x, y: np.matmul(x.astype(np.float64), y.astype(np.float64)).astype(np.float32),
    "nn.softmax": lambda a, x: _softmax(x, a["axis"]),
    "nn.batch_norm": lambda a, x, g, b, m, v: _batch_norm(x, g, b, m, v, a),
    "clip": lambda a, x, lo, hi: np.clip(x, lo, hi),
    "squeeze": lambda a, x: np.squeeze(x, axis=tuple(a["axis"]) if a["axis"] is not None else None),
    "expand_dims": lambda a, x: np.expand_dims(x, tuple(a["axis"])),
    "tuple_get_item": lambda a, t: t[a["index"]],
    "less": lambda a, x, y: np.less(x, y),
    "sign": lambda a, x: np.sign(x),  # ONNX / relax: three-valued, sign(0) = 0
    "where": lambda a, c, x, y: np.where(c, x, y).astype(np.result_type(x, y)),
}


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
        env = dict(self.check_inputs(inputs))
        for node in self.graph["nodes"]:
            args = [self._value(a, env) for a in node["args"]]
            if observe is not None:
                observe(node, args)
            if node["op"] == "sepnet.conv2d":
                env[node["name"]] = run_conv_layer(*args[:4], node["attrs"], *args[4:])
            elif node["op"] in _SIMPLE:
                env[node["name"]] = _SIMPLE[node["op"]](node["attrs"], *args)
            else:
                raise UnsupportedOpError(f"node {node['name']!r}: op {node['op']!r} is not supported")
        return [env[name] for name in list(self.graph["outputs"]) + list(keep)]
