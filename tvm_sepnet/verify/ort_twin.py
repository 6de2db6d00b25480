"""The ONNX twin of a quantized graph: an oracle for the integer pipeline that shares no code with it.

From an artifact's exported graph (``graph.json`` + ``graph.npz``, :mod:`tvm_sepnet.graph_export`) this
module writes a fake-quantized ONNX model that onnxruntime runs. Each ``sepnet.conv2d`` layer becomes
float ONNX ops written from docs/numerics.md and the layer's published attributes alone
(:mod:`.contract`; nothing of ``schedules``, ``relay_passes`` or the builder is imported):

* activations: ``q = Clip(Round(x / scale), lo, hi)`` (ONNX ``Round`` is half to even), then
  ``x_dq = q * scale``. The twin divides by the published ``scale``; it never reads ``inv_scale``, so
  a compiler whose ``inv_scale`` is not ``1 / scale`` disagrees with it;
* weights: ``alpha[o] * sign`` for binary layers (the stored bits unpacked here), ``wq * w_scale[o]``
  for int8 layers, float weights as stored;
* ``y = Conv(x_dq, W) + bias`` in float32, then ``+ residual`` (as 8-bit codes dequantized when the skip
  is quantized: ``residual_quant``), then ``Relu`` (docs/numerics.md).

Two modes:

* **free running** (``forced=False``): the whole network as the twin computes it. Its outputs differ
  from the integer pipeline wherever a float32 rounding difference moves a quantizer input across a
  rounding boundary (one quantization step, which later layers spread): good for a measured figure,
  too chaotic for a sound per-element tolerance.
* **forced** (``forced=True``, the check): each conv layer's output that later nodes read is a graph
  input, fed with the compiled model's own layer output (``probe_layers``), so every layer is compared
  on the same input as the compiled layer saw. The twin then also computes, per output element, an
  upper bound of ``|twin - compiled|`` (:mod:`.bounds`, derivation in docs/checks.md): one quantization
  step times ``|W|`` for each input that may round the other way (a quantizer input within float32
  rounding of a rounding boundary) plus the float32 rounding error of both sums.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputMismatchError, UnsupportedOpError
from .bounds import BoundsMixin, Val
from .contract import dequantized_weights, quantizer_range
from .onnx_graph import OPSET, OnnxGraph, run_onnxruntime

CONV_OP = "sepnet.conv2d"


def named_inputs(specs: list[dict], inputs) -> dict:
    """``inputs`` (an array, a list, or a name -> array dict) as name -> array, checked against the
    graph's input ``specs`` (name, shape, dtype)."""
    names = [s["name"] for s in specs]
    if not isinstance(inputs, dict):
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(arrays) != len(names):
            raise InputMismatchError(f"the model takes {len(names)} input(s), got {len(arrays)}")
        inputs = dict(zip(names, arrays))
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputMismatchError(f"missing input(s) {missing}; the model's inputs are {names}")
    out = {}
    for spec in specs:
        arr = np.asarray(inputs[spec["name"]])
        if list(arr.shape) != list(spec["shape"]) or str(arr.dtype) != spec["dtype"]:
            raise InputMismatchError(f"input {spec['name']!r}: expected shape {tuple(spec['shape'])} dtype "
                                     f"{spec['dtype']}, got shape {arr.shape} dtype {arr.dtype}")
        out[spec["name"]] = arr
    return out


@dataclass
class Twin:
    """An ONNX twin and the names of what it computes.

    ``layers``: per conv layer (graph order) ``{"node", "layer", "twin", "tolerance", "flips"}`` (forced
    mode: the names of its twin output, its per-element bound, and how many quantizer inputs of it may
    round the other way); ``outputs``: per model output ``{"node", "twin", "tolerance"}``;
    ``forced_inputs``: graph input name -> conv node whose compiled output feeds it; ``input_specs``:
    the graph's inputs (name, shape, dtype)."""

    model: object
    forced: bool
    input_specs: list[dict]
    outputs: list[dict] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)
    forced_inputs: dict = field(default_factory=dict)

    def run(self, inputs: dict, layer_outputs: dict | None = None) -> dict:
        """Every output of the twin by name; ``layer_outputs`` (forced mode): conv node -> compiled output."""
        feeds = named_inputs(self.input_specs, inputs)
        for input_name, node in self.forced_inputs.items():
            feeds[input_name] = np.asarray(layer_outputs[node], np.float32)
        names = [o.name for o in self.model.graph.output]
        return dict(zip(names, run_onnxruntime(self.model, feeds, names)))


class _TwinBuilder(BoundsMixin):
    """Writes the twin node by node (value ops here; error-bound ops in :class:`BoundsMixin`)."""

    def __init__(self, graph: dict, consts: dict, forced: bool):
        self.g = OnnxGraph("sepnet_twin")
        self.graph, self.consts, self.bounded = graph, consts, forced
        self.values: dict[str, Val] = {}
        self.twin = Twin(model=None, forced=forced, input_specs=list(graph["inputs"]))

    def build(self) -> Twin:
        for spec in self.graph["inputs"]:
            if spec["dtype"] != "float32":
                raise UnsupportedOpError(f"input {spec['name']!r}: the twin takes float32 inputs, not {spec['dtype']}")
            name = self.g.add_input(spec["name"], spec["shape"])
            self.values[spec["name"]] = self.leaf(name, spec["shape"])
        for node in self.graph["nodes"]:
            args = [self.arg(a, node) for a in node["args"]]
            if node["op"] == CONV_OP:
                self.values[node["name"]] = self.conv(node, args)
            else:
                handler = _OPS.get(node["op"])
                if handler is None:
                    raise UnsupportedOpError(f"node {node['name']!r}: op {node['op']!r} has no ONNX twin")
                self.values[node["name"]] = handler(self, node, args)
        for name in self.graph["outputs"]:
            val = self.values[name]
            row = {"node": name, "twin": self.g.add_output(val.v, f"out:{name}", val.shape)}
            if self.bounded:
                row["tolerance"] = self.g.add_output(self.error_or_zero(val), f"out_tol:{name}", val.shape)
            self.twin.outputs.append(row)
        self.twin.model = self.g.model()
        return self.twin

    # ---- arguments
    def arg(self, a: dict, node: dict):
        if "var" in a:
            return self.values[a["var"]]
        if "const" in a:
            array = np.asarray(self.consts[a["const"]])
            return Val(self.g.const(array.astype(np.float32) if array.dtype.kind == "f" else array, "w"),
                       shape=list(array.shape), array=array)
        if "tuple" in a:
            return [self.arg(x, node) for x in a["tuple"]]
        if "shape" in a:
            return tuple(a["shape"])
        if "value" in a:
            return a["value"]
        raise UnsupportedOpError(f"node {node['name']!r}: argument {a} has no ONNX twin")

    # ---- the conv layer
    def conv(self, node: dict, args: list) -> Val:
        a = node["attrs"]
        x, w, w_scale, bias = args[:4]
        residual = args[4] if a.get("residual") else None
        if residual is not None and a.get("residual_quant"):
            residual = self.quantized_residual(residual, a["residual_quant"])
        cg = a["in_channels"] // a["groups"]
        weights = dequantized_weights(a["weight_format"], w.array, w_scale.array, cg)
        bias_arr = np.asarray(bias.array, np.float32)
        act = a["act"]
        scale = q = None
        x_in = x.v
        if act["kind"] != "float":
            scale = np.float32(act["scale"])
            q, x_in = self.fake_quantize(x.v, act, "x")
        top, left, bottom, right = a["padding"]
        conv_attrs = {"strides": list(a["strides"]), "pads": [top, left, bottom, right],
                      "dilations": list(a["dilation"]), "group": int(a["groups"]), "kernel_shape": list(a["kernel"])}
        w_name = self.g.const(weights, "w_dq")
        y = self.g.op("Conv", [x_in, w_name, self.g.const(bias_arr, "bias")], "conv", **conv_attrs)
        if residual is not None:
            y = self.g.op("Add", [y, residual.v], "residual")
        if a["relu"]:
            y = self.g.op("Relu", [y])
        shape = node.get("shape")
        if not self.bounded:
            return Val(y, shape=shape)
        tol, flips = self.conv_bound(x, q, scale, weights, bias_arr, residual, conv_attrs)
        self.twin.layers.append({"node": node["name"], "layer": a["name"],
                                 "twin": self.g.add_output(y, f"layer:{node['name']}", shape),
                                 "tolerance": self.g.add_output(tol, f"layer_tol:{node['name']}", shape),
                                 "flips": self.g.add_output(flips, f"layer_flips:{node['name']}", x.shape) if flips else None})
        forced = self.g.add_input(f"forced:{node['name']}", shape)
        self.twin.forced_inputs[forced] = node["name"]
        return self.leaf(forced, shape)

    def quantized_residual(self, r: Val, rq: dict) -> Val:
        """A skip connection in 8 bits: the residual as codes of another layer's quantizer, dequantized,
        ``Clip(Round(r / s), lo, hi) * s`` (docs/numerics.md); bound: one step ``s`` per rounding boundary
        within float32 rounding of ``r / s`` (the compiled side multiplies by ``inv_scale``)."""
        s = np.float32(rq["scale"])
        _, v = self.fake_quantize(r.v, rq, "skip")
        if not self.bounded:
            return Val(v, shape=r.shape)
        return Val(v, self.g.op("Mul", [self.flips(r, s), self.g.scalar(s)], "skip_e"), r.shape)

    def fake_quantize(self, x: str, quantizer: dict, tag: str) -> tuple[str, str]:
        """(codes ``Clip(Round(x / s), lo, hi)``, dequantized ``codes * s``) with a quantizer's published
        scale ``s`` and range (docs/numerics.md)."""
        lo, hi = quantizer_range(quantizer["kind"], quantizer["bits"])
        k = self.g.scalar(np.float32(quantizer["scale"]))
        q = self.g.op("Clip", [self.g.op("Round", [self.g.op("Div", [x, k])]), self.g.scalar(lo), self.g.scalar(hi)],
                      f"{tag}_q")
        return q, self.g.op("Mul", [q, k], f"{tag}_dq")

    # ---- other ops: value + (in forced mode) bound, one rule each
    def same_op(self, op_type: str, node: dict, x: Val, extra=(), exact_reduction: int = 0, **attrs) -> Val:
        """An op applied alike to the value and (forced mode) its magnitude and error bound: moves and
        max/min pooling (``exact_reduction=0``), or averages over ``exact_reduction`` terms (adds
        float32 rounding of both sides to the error)."""
        v = self.g.op(op_type, [x.v, *extra], **attrs)
        if not self.bounded:
            return Val(v, shape=node.get("shape"))
        return self.same_op_bound(op_type, node, x, v, extra, exact_reduction, attrs)


def _pool_attrs(a: dict) -> dict:
    top, left, bottom, right = a["padding"]
    return {"kernel_shape": list(a["pool_size"]), "strides": list(a["strides"]), "pads": [top, left, bottom, right],
            "ceil_mode": int(bool(a["ceil_mode"]))}


def _check_nchw(node: dict) -> None:
    if node["attrs"].get("layout", "NCHW") != "NCHW":
        raise UnsupportedOpError(f"node {node['name']!r}: layout {node['attrs']['layout']} has no ONNX twin (NCHW only)")


def _max_pool(b: _TwinBuilder, node, args):
    _check_nchw(node)
    a = node["attrs"]
    return b.same_op("MaxPool", node, args[0], dilations=list(a["dilation"]), **_pool_attrs(a))


def _avg_pool(b: _TwinBuilder, node, args):
    _check_nchw(node)
    a = node["attrs"]
    if list(a["dilation"]) != [1, 1]:
        raise UnsupportedOpError(f"node {node['name']!r}: dilated average pooling has no ONNX twin (opset {OPSET})")
    n = int(np.prod(a["pool_size"]))
    return b.same_op("AveragePool", node, args[0], exact_reduction=n, count_include_pad=int(bool(a["count_include_pad"])),
                     **_pool_attrs(a))


def _adaptive_avg_pool(b: _TwinBuilder, node, args):
    _check_nchw(node)
    if list(node["attrs"].get("output_size") or [1, 1]) != [1, 1]:
        raise UnsupportedOpError(f"node {node['name']!r}: adaptive_avg_pool2d to {node['attrs']['output_size']} has no twin")
    x = args[0]
    return b.same_op("GlobalAveragePool", node, x, exact_reduction=int(np.prod(x.shape[2:])))


def _mean(b: _TwinBuilder, node, args):
    a, x = node["attrs"], args[0]
    axes = [int(i) % len(x.shape) for i in a["axis"]]
    return b.same_op("ReduceMean", node, x, exact_reduction=int(np.prod([x.shape[i] for i in axes])), axes=axes,
                     keepdims=int(bool(a["keepdims"])))


def _reshape(b: _TwinBuilder, node, args):
    return b.same_op("Reshape", node, args[0], extra=[b.g.const(np.array(args[1], np.int64), "shape")])


def _flatten(b, node, args):
    return b.same_op("Flatten", node, args[0], axis=1)


def _permute(b, node, args):
    axes = node["attrs"].get("axes")
    return b.same_op("Transpose", node, args[0], **({"perm": list(axes)} if axes is not None else {}))


def _squeeze(b, node, args):
    axis = node["attrs"].get("axis")
    extra = [] if axis is None else [b.g.const(np.array(axis, np.int64), "axes")]
    return b.same_op("Squeeze", node, args[0], extra=extra)


def _expand_dims(b, node, args):
    return b.same_op("Unsqueeze", node, args[0], extra=[b.g.const(np.array(node["attrs"]["axis"], np.int64), "axes")])


_OPS = {
    "identity": lambda b, node, args: b.same_op("Identity", node, args[0]),
    "nn.relu": lambda b, node, args: b.same_op("Relu", node, args[0]),
    "nn.max_pool2d": _max_pool,
    "nn.avg_pool2d": _avg_pool,
    "nn.adaptive_avg_pool2d": _adaptive_avg_pool,
    "mean": _mean,
    "reshape": _reshape,
    "flatten": _flatten,
    "permute_dims": _permute,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
    "concat": lambda b, node, args: b.concat(node, args[0]),
    "add": lambda b, node, args: b.binary("Add", node, *args),
    "subtract": lambda b, node, args: b.binary("Sub", node, *args),
    "multiply": lambda b, node, args: b.binary("Mul", node, *args),
    "maximum": lambda b, node, args: b.binary("Max", node, *args),
    "minimum": lambda b, node, args: b.binary("Min", node, *args),
    "matmul": lambda b, node, args: b.matmul(node, *args),
    "clip": lambda b, node, args: b.clip(node, *args),
    "divide": lambda b, node, args: b.unbounded("Div", node, args),
    "sigmoid": lambda b, node, args: b.unbounded("Sigmoid", node, args),
    "nn.softmax": lambda b, node, args: b.unbounded("Softmax", node, args, axis=int(node["attrs"]["axis"])),
}


def build_twin(graph: dict, consts: dict, forced: bool = False) -> Twin:
    """The ONNX twin of an exported quantized graph (module docstring); ``forced``: the check mode."""
    return _TwinBuilder(graph, {k: np.asarray(v) for k, v in consts.items()}, forced).build()


def load_graph(json_path: str, npz_path: str) -> tuple[dict, dict]:
    """(graph, consts) of an exported graph (an artifact's ``graph.json`` and ``graph.npz``)."""
    import json

    with open(json_path, encoding="utf-8") as f:
        graph = json.load(f)
    with np.load(npz_path) as z:
        consts = {k: z[k] for k in z.files}
    return graph, consts


def run_twin(graph: dict, consts: dict, inputs: dict) -> list[np.ndarray]:
    """The free-running twin's outputs for ``inputs`` (name -> float32 array)."""
    twin = build_twin(graph, consts, forced=False)
    got = twin.run(inputs)
    return [got[row["twin"]] for row in twin.outputs]
