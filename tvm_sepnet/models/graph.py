"""A tiny framework-neutral network description, and a builder that reads like a network definition.

A :class:`Net` is an ordered list of :class:`Node` s over named tensors (NCHW, float32) plus a
``params`` dict of float32 arrays keyed ``"<layer>.<param>"``. Converters (``to_relax``, ``to_onnx``)
walk the nodes in order; :class:`NetBuilder` infers every tensor's shape as layers are added.

Ops and their attrs / params:

=================== ==================================================== ==============================
op                  attrs                                                params
=================== ==================================================== ==============================
conv2d              channels, kernel (kh, kw), strides (sh, sw),          weight (O, I/groups, kh, kw),
                    padding (top, left, bottom, right), groups, bias      bias (O,) if bias
batch_norm          eps                                                   gamma, beta, mean, var (C,)
relu, add, concat   concat: axis (1)
max_pool2d,         kernel, strides, padding, ceil_mode (always False;
avg_pool2d          the builder turns ceil mode into bottom/right padding)
global_avg_pool2d
flatten                                                                   (N, C, H, W) -> (N, C*H*W)
dense               units                                                 weight (out, in), bias (out,)
softmax             axis (1)
sign_conv2d         channels, kernel, strides, padding, dilation (dh,     weight (O, I/groups, kh, kw)
                    dw), groups, pad_value (0 or 1), acc_relu             (binarized by sign, 0 -> +1),
                                                                          multiplier (O,), bias (O,)
sign                (values -1 / +1, 0 -> +1)
clip                lo, hi
=================== ==================================================== ==============================

``sign_conv2d`` is a binary conv with ±1 activations (Larq's ``QuantConv2D`` with ``ste_sign`` input and
kernel quantizers; docs/numerics.md "Sign layers"): ``multiplier * conv(sign(x), sign(W)) + bias`` with
out-of-image taps ``pad_value``, and with ``acc_relu`` the ReLU on the ±1 dot product first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schedules.common import conv_out_size, normalize_padding

from .weights import init_params

OPS = ("conv2d", "batch_norm", "relu", "add", "concat", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
       "flatten", "dense", "softmax", "sign_conv2d", "sign", "clip")


@dataclass
class Node:
    """One layer: ``output = op(*inputs, **attrs)`` with params ``"<name>.<param>"``."""

    op: str
    name: str
    inputs: list[str]
    output: str
    attrs: dict = field(default_factory=dict)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def infer_shape(node: Node, in_shapes: list[tuple]) -> tuple:
    """Output shape of ``node`` given its input shapes; raises ValueError on inconsistent inputs."""
    op, a, x = node.op, node.attrs, in_shapes[0]
    if op in ("conv2d", "sign_conv2d"):
        n, c, h, w = x
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["padding"]
        dh, dw = a.get("dilation", (1, 1))
        if c % a["groups"] or a["channels"] % a["groups"]:
            raise ValueError(f"layer {node.name!r}: channels {c}->{a['channels']} "
                             f"not divisible by groups {a['groups']}")
        return (n, a["channels"], conv_out_size(h, kh, sh, pt, pb, dh), conv_out_size(w, kw, sw, pl, pr, dw))
    if op in ("max_pool2d", "avg_pool2d"):
        n, c, h, w = x
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["padding"]
        return (n, c, conv_out_size(h, kh, sh, pt, pb), conv_out_size(w, kw, sw, pl, pr))
    if op in ("batch_norm", "relu", "softmax", "sign", "clip"):
        return tuple(x)
    if op == "add":
        if any(tuple(s) != tuple(x) for s in in_shapes):
            raise ValueError(f"layer {node.name!r}: add of different shapes {in_shapes}")
        return tuple(x)
    if op == "concat":
        if any(tuple(s[:1]) + tuple(s[2:]) != tuple(x[:1]) + tuple(x[2:]) for s in in_shapes):
            raise ValueError(f"layer {node.name!r}: concat of incompatible shapes {in_shapes}")
        return (x[0], sum(s[1] for s in in_shapes)) + tuple(x[2:])
    if op == "global_avg_pool2d":
        return (x[0], x[1], 1, 1)
    if op == "flatten":
        return (x[0], int(np.prod(x[1:])))
    if op == "dense":
        return (x[0], a["units"])
    raise ValueError(f"layer {node.name!r}: unknown op {op!r} (known: {', '.join(OPS)})")


def node_param_shapes(node: Node, in_shapes: list[tuple]) -> dict[str, tuple]:
    """``{"<name>.<param>": shape}`` of the params ``node`` needs."""
    a, p = node.attrs, node.name
    if node.op == "conv2d":
        shapes = {f"{p}.weight": (a["channels"], in_shapes[0][1] // a["groups"]) + tuple(a["kernel"])}
        if a["bias"]:
            shapes[f"{p}.bias"] = (a["channels"],)
        return shapes
    if node.op == "sign_conv2d":
        return {f"{p}.weight": (a["channels"], in_shapes[0][1] // a["groups"]) + tuple(a["kernel"]),
                f"{p}.multiplier": (a["channels"],), f"{p}.bias": (a["channels"],)}
    if node.op == "batch_norm":
        return {f"{p}.{k}": (in_shapes[0][1],) for k in ("gamma", "beta", "mean", "var")}
    if node.op == "dense":
        return {f"{p}.weight": (a["units"], in_shapes[0][1]), f"{p}.bias": (a["units"],)}
    return {}


@dataclass
class Net:
    """A network: input ``input_name`` of ``input_shape`` (N, 3, H, W) float32, ``nodes`` in
    execution order (the last node's output is the network output) and float32 ``params``."""

    name: str
    input_shape: tuple
    nodes: list[Node] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    input_name: str = "input"

    @property
    def output(self) -> str:
        """Name of the output tensor."""
        return self.nodes[-1].output

    def shapes(self) -> dict[str, tuple]:
        """``{tensor name: shape}`` of the input and every node output."""
        shapes = {self.input_name: tuple(self.input_shape)}
        for node in self.nodes:
            shapes[node.output] = infer_shape(node, [shapes[i] for i in node.inputs])
        return shapes

    @property
    def output_shape(self) -> tuple:
        """Shape of the output tensor."""
        return self.shapes()[self.output]

    def param_shapes(self) -> dict[str, tuple]:
        """``{param name: shape}`` that the nodes require, in node order."""
        shapes, out = self.shapes(), {}
        for node in self.nodes:
            out.update(node_param_shapes(node, [shapes[i] for i in node.inputs]))
        return out

    def layer_params(self) -> dict[str, int]:
        """``{layer name: number of parameters}`` (from the shapes: no weights needed)."""
        shapes, counts = self.shapes(), {}
        for node in self.nodes:
            params = node_param_shapes(node, [shapes[i] for i in node.inputs])
            counts[node.name] = int(sum(np.prod(s) for s in params.values()))
        return counts

    def num_params(self) -> int:
        """Number of parameters (weights, biases and batch-norm statistics alike)."""
        return int(sum(self.layer_params().values()))

    def param_bytes(self, bits_per_param: int = 32) -> int:
        """Storage of all parameters at ``bits_per_param`` bits each, in bytes (rounded up)."""
        return -(-self.num_params() * int(bits_per_param) // 8)

    def conv_params(self, min_kernel: int = 1, max_kernel: int | None = None) -> int:
        """Weight + bias count of the conv2d layers whose larger kernel side k has
        ``min_kernel <= k <= max_kernel``: ``conv_params(2)`` counts the k×k (k > 1) layers."""
        counts = self.layer_params()
        return int(sum(counts[n.name] for n in self.nodes if n.op in ("conv2d", "sign_conv2d")
                       and min_kernel <= max(n.attrs["kernel"])
                       and (max_kernel is None or max(n.attrs["kernel"]) <= max_kernel)))

    def macs(self) -> int:
        """Multiply-accumulates of every conv2d and dense layer at ``input_shape``."""
        shapes, total = self.shapes(), 0
        for node in self.nodes:
            if node.op in ("conv2d", "sign_conv2d"):
                n, o, h, w = shapes[node.output]
                cin = shapes[node.inputs[0]][1] // node.attrs["groups"]
                kh, kw = node.attrs["kernel"]
                total += n * o * h * w * cin * kh * kw
            elif node.op == "dense":
                n, i = shapes[node.inputs[0]]
                total += n * i * node.attrs["units"]
        return int(total)

    def summary(self) -> str:
        """A text table, one line per layer: name, op, kernel, groups, channels, output shape, params;
        then totals (params, float size, k×k share, MACs)."""
        shapes, counts = self.shapes(), self.layer_params()
        lines = [f"{'layer':26} {'op':17} {'kernel':7} {'groups':>6} {'channels':>11} {'output':>18} {'params':>9}"]
        for node in self.nodes:
            a = node.attrs
            kernel = "x".join(map(str, a["kernel"])) if "kernel" in a else ""
            groups = str(a.get("groups", "")) if node.op in ("conv2d", "sign_conv2d") else ""
            cin = shapes[node.inputs[0]][1]
            chans = f"{cin}->{shapes[node.output][1]}" if node.op in ("conv2d", "sign_conv2d", "dense", "concat") else ""
            out = "x".join(map(str, shapes[node.output]))
            lines.append(f"{node.name:26} {node.op:17} {kernel:7} {groups:>6} {chans:>11} {out:>18} "
                         f"{counts[node.name]:>9,}")
        total = self.num_params()
        kxk = self.conv_params(2)
        lines.append(f"total params {total:,} ({self.param_bytes() / 1e6:.2f} MB float32); "
                     f"k×k conv params {kxk:,} ({100.0 * kxk / max(total, 1):.1f} %); "
                     f"MACs {self.macs() / 1e9:.3f} G at {'x'.join(map(str, self.input_shape))}")
        return "\n".join(lines)


class NetBuilder:
    """Builds a :class:`Net` layer by layer, inferring shapes. Each method returns the output tensor
    name (the layer name for named layers, ``"<input>.<op>"`` for unnamed ones such as ``relu``)."""

    def __init__(self, name: str, input_shape: tuple, input_name: str = "input"):
        self.net = Net(name, tuple(int(v) for v in input_shape), input_name=input_name)
        self._shapes = {input_name: self.net.input_shape}
        self._names: set[str] = set()

    @property
    def input(self) -> str:
        """The input tensor name."""
        return self.net.input_name

    def shape(self, tensor: str) -> tuple:
        """Inferred shape of ``tensor``."""
        return self._shapes[tensor]

    def channels(self, tensor: str) -> int:
        """Channel count (axis 1) of ``tensor``."""
        return self._shapes[tensor][1]

    def _unique(self, name: str) -> str:
        base, k = name, 1
        while name in self._names or name in self._shapes:
            name, k = f"{base}_{k}", k + 1
        return name

    def add_node(self, op: str, name: str, inputs: list[str], **attrs) -> str:
        """Append a node (any op of :data:`OPS`); returns its output tensor name."""
        if op not in OPS:
            raise ValueError(f"unknown op {op!r} (known: {', '.join(OPS)})")
        unknown = [i for i in inputs if i not in self._shapes]
        if unknown:
            raise ValueError(f"layer {name!r}: unknown input tensor {unknown[0]!r}")
        name = self._unique(name)
        node = Node(op, name, list(inputs), name, attrs)
        self._shapes[name] = infer_shape(node, [self._shapes[i] for i in inputs])
        self._names.add(name)
        self.net.nodes.append(node)
        return name

    def conv(self, name, x, channels, kernel, stride=1, padding=0, groups=1, bias=False) -> str:
        """2-D convolution (NCHW/OIHW)."""
        return self.add_node("conv2d", name, [x], channels=int(channels), kernel=_pair(kernel),
                             strides=_pair(stride), padding=normalize_padding(padding), groups=int(groups), bias=bool(bias))

    def sign_conv(self, name, x, channels, kernel, stride=1, padding=0, dilation=1, groups=1, pad_value=1,
                  acc_relu=False) -> str:
        """Binary conv with ±1 activations and weights (a sign layer; see the module docstring)."""
        return self.add_node("sign_conv2d", name, [x], channels=int(channels), kernel=_pair(kernel),
                             strides=_pair(stride), padding=normalize_padding(padding), dilation=_pair(dilation),
                             groups=int(groups), pad_value=int(pad_value), acc_relu=bool(acc_relu))

    def sign(self, x, name=None) -> str:
        """±1 values of ``x`` (0 -> +1)."""
        return self.add_node("sign", name or f"{x}.sign", [x])

    def clip(self, x, lo, hi, name=None) -> str:
        """``min(max(x, lo), hi)``."""
        return self.add_node("clip", name or f"{x}.clip", [x], lo=float(lo), hi=float(hi))

    def bn(self, name, x, eps=1e-5, scale=True, center=True) -> str:
        """Inference batch norm over channels (``scale=False``: gamma 1; ``center=False``: beta 0)."""
        attrs = {"eps": float(eps)}
        if not scale or not center:
            attrs.update(scale=bool(scale), center=bool(center))
        return self.add_node("batch_norm", name, [x], **attrs)

    def relu(self, x, name=None) -> str:
        """ReLU."""
        return self.add_node("relu", name or f"{x}.relu", [x])

    def add(self, name, a, b) -> str:
        """Elementwise sum."""
        return self.add_node("add", name, [a, b])

    def concat(self, name, xs) -> str:
        """Concatenation along channels."""
        return self.add_node("concat", name, list(xs), axis=1)

    def _pool(self, op, name, x, kernel, stride, padding, ceil_mode):
        kernel, stride, pad = _pair(kernel), _pair(stride), normalize_padding(padding)
        if ceil_mode:  # ceil mode == extra bottom/right padding that the last partial window needs
            _, _, h, w = self._shapes[x]
            extra = []
            for size, k, s, lo, hi in ((h, kernel[0], stride[0], pad[0], pad[2]),
                                       (w, kernel[1], stride[1], pad[1], pad[3])):
                span = size + lo + hi - k
                out = -(-span // s) + 1
                if (out - 1) * s >= size + lo:  # a window may not start in the padding
                    out -= 1
                extra.append(max(0, (out - 1) * s + k - (size + lo + hi)))
            pad = (pad[0], pad[1], pad[2] + extra[0], pad[3] + extra[1])
        return self.add_node(op, name, [x], kernel=kernel, strides=stride, padding=pad, ceil_mode=False)

    def max_pool(self, name, x, kernel, stride=None, padding=0, ceil_mode=False) -> str:
        """Max pooling; ``ceil_mode`` is turned into explicit bottom/right padding."""
        return self._pool("max_pool2d", name, x, kernel, stride or kernel, padding, ceil_mode)

    def avg_pool(self, name, x, kernel, stride=None, padding=0) -> str:
        """Average pooling (padding excluded from the count)."""
        return self._pool("avg_pool2d", name, x, kernel, stride or kernel, padding, False)

    def global_avg_pool(self, name, x) -> str:
        """Mean over H and W, keeping (N, C, 1, 1)."""
        return self.add_node("global_avg_pool2d", name, [x])

    def flatten(self, name, x) -> str:
        """(N, C, H, W) -> (N, C*H*W)."""
        return self.add_node("flatten", name, [x])

    def dense(self, name, x, units) -> str:
        """Fully connected layer ``x @ W.T + b``."""
        return self.add_node("dense", name, [x], units=int(units))

    def softmax(self, name, x) -> str:
        """Softmax over axis 1."""
        return self.add_node("softmax", name, [x], axis=1)

    def build(self, seed: int | None = 0) -> Net:
        """The :class:`Net`; with a ``seed``, its params are initialised (see ``weights.init_params``)."""
        if seed is not None:
            init_params(self.net, seed)
        return self.net
