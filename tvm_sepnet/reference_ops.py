"""numpy twins of the Relax ops around the conv layers (the reference executor's float ops), numpy only.

Each entry of :data:`GRAPH_OPS` is ``fn(attrs, *args)`` over the graph's values (float32 tensors, int64
indices, python scalars for ``PrimValue`` arguments). Two numerics classes (docs/numerics.md, "Float ops"):

* **exact in float32**: ops that are one correctly rounded IEEE operation per element, or move data
  (add, subtract, multiply, divide, maximum, minimum, negative, abs, sqrt, relu, leaky/parametric relu,
  clip, max/min reductions, max pooling, astype, reshape, transpose, concat, split, slice, take, pad,
  broadcast,
  nearest resize). TVM computes the same values bit for bit.
* **float64, rounded once** (:data:`FLOAT64_OPS`): reductions, normalizations, transcendental functions,
  matmul, einsum and average pooling are computed in float64 and rounded once to float32; TVM computes them the
  same way (``relay_passes.PromoteToFloat64``), so the two agree bit for bit but for float64 values at a
  float32 rounding boundary (about 2^-29 per value).
* **close**: linear resize is interpolated here in float64 (rounded once), by TVM in float32 with its own
  coordinate formula: they agree within 5e-7 of the largest value, not bit for bit.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .errors import UnsupportedOpError

#: Relax ops (without the ``relax.`` prefix) computed in float64 and rounded once to float32
FLOAT64_OPS = frozenset({
    "mean", "sum", "prod", "matmul", "einsum", "nn.avg_pool2d", "nn.adaptive_avg_pool2d", "nn.batch_norm", "nn.layer_norm",
    "nn.softmax", "sigmoid", "tanh", "exp", "erf", "power", "nn.gelu", "nn.gelu_tanh",
})

_erf = np.frompyfunc(math.erf, 1, 1)


def _f64(fn):
    """``fn`` on float64 copies of float32 inputs, its result rounded once to float32."""
    def wrapped(a, *args):
        cast = [v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v for v in args]
        out = fn(a, *cast)
        if isinstance(out, tuple):
            return tuple(o.astype(np.float32) for o in out)
        return out.astype(np.float32)
    return wrapped


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
    return _windows(xp, a["pool_size"], a["strides"], a["dilation"]).max(axis=0).astype(x.dtype)


def avg_pool2d(x, a):
    """Float64 window sums divided by the window size (``count_include_pad``) or by the number of input
    taps in the window."""
    xp = _pool_pad(x, a["pool_size"], a["strides"], a["padding"], a["ceil_mode"], 0.0)
    s = _windows(xp, a["pool_size"], a["strides"], a["dilation"]).sum(axis=0)
    if a.get("count_include_pad"):
        return s / (a["pool_size"][0] * a["pool_size"][1])
    ones = _pool_pad(np.ones_like(x), a["pool_size"], a["strides"], a["padding"], a["ceil_mode"], 0.0)
    return s / _windows(ones, a["pool_size"], a["strides"], a["dilation"]).sum(axis=0)


def _adaptive_avg_pool2d(x, a):
    size = a.get("output_size") or [1, 1]
    if list(size) not in ([1], [1, 1]):
        raise UnsupportedOpError(f"adaptive_avg_pool2d to {size} is not supported (only 1x1)")
    return x.mean(axis=(2, 3), keepdims=True)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _channel_shape(x, axis, v):
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def _batch_norm(x, g, b, m, v, a):
    if a.get("training"):
        raise UnsupportedOpError("batch_norm with training=True (batch statistics) is not supported; "
                                 "export the model in inference mode")
    axis = a["axis"]
    g = g if a.get("scale", True) else np.ones_like(g)
    b = b if a.get("center", True) else np.zeros_like(b)
    k = _channel_shape(x, axis, g) / np.sqrt(_channel_shape(x, axis, v) + a["epsilon"])
    return (x - _channel_shape(x, axis, m)) * k + _channel_shape(x, axis, b), m, v


def _layer_norm(x, g, b, a):
    axes = tuple(int(i) for i in a["axes"])
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + a["epsilon"])
    return y * (g if a.get("scale", True) else 1.0) + (b if a.get("center", True) else 0.0)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _source_coordinate(out_size: int, in_size: int, mode: str) -> np.ndarray:
    """ONNX Resize: the input coordinate of each output index (float64)."""
    i = np.arange(out_size, dtype=np.float64)
    scale = out_size / in_size
    if mode == "half_pixel":
        return (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (i + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "align_corners":
        return i * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_half_pixel_for_nn":
        return (i + 0.5) / scale
    raise UnsupportedOpError(f"resize: coordinate_transformation_mode {mode!r} is not supported")


_ROUNDING = {
    "round_prefer_floor": lambda c: np.ceil(c - 0.5),
    "round_prefer_ceil": lambda c: np.floor(c + 0.5),
    "round": lambda c: np.floor(c + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _resize_axis(x, axis: int, out_size: int, a: dict):
    in_size = x.shape[axis]
    coord = _source_coordinate(out_size, in_size, a["coordinate_transformation_mode"])
    method = a["method"]
    if method == "nearest_neighbor":
        rounding = _ROUNDING.get(a.get("rounding_method") or "round_prefer_floor")
        if rounding is None:
            raise UnsupportedOpError(f"resize: rounding_method {a['rounding_method']!r} is not supported")
        idx = np.clip(rounding(coord), 0, in_size - 1).astype(np.int64)
        return np.take(x, idx, axis=axis)
    if method == "linear":
        coord = np.clip(coord, 0, in_size - 1)
        lo = np.floor(coord).astype(np.int64)
        hi = np.minimum(lo + 1, in_size - 1)
        frac = coord - lo
        shape = [1] * x.ndim
        shape[axis] = -1
        frac = frac.reshape(shape)
        return np.take(x, lo, axis=axis) * (1 - frac) + np.take(x, hi, axis=axis) * frac
    raise UnsupportedOpError(f"resize: method {method!r} is not supported (nearest and linear are)")


def _resize2d(x, size, a):
    """NCHW resize to ``size`` (ONNX Resize semantics, scale = out / in); float64, rounded once."""
    if a.get("layout", "NCHW") != "NCHW":
        raise UnsupportedOpError(f"resize2d: layout {a['layout']!r} is not supported (NCHW is)")
    y = _resize_axis(x, 2, int(size[0]), a)
    return _resize_axis(y, 3, int(size[1]), a)


def _strided_slice(x, axes, begin, end, strides=None, a=None):
    index = [slice(None)] * x.ndim
    strides = strides if strides is not None else [1] * len(axes)
    for ax, b, e, s in zip(axes, begin, end, strides):
        index[int(ax)] = slice(int(b), int(e), int(s))
    return x[tuple(index)]


def _split(x, a):
    sections = a["indices_or_sections"]
    return np.split(x, sections if isinstance(sections, list) else int(sections), axis=a["axis"])


def _pad(x, a):
    w = [int(v) for v in a["pad_width"]]
    width = [(w[2 * i], w[2 * i + 1]) for i in range(x.ndim)]
    mode = a.get("pad_mode", "constant")
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=x.dtype.type(a.get("pad_value", 0.0)))
    modes = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    if mode not in modes:
        raise UnsupportedOpError(f"pad mode {mode!r} is not supported")
    return np.pad(x, width, mode=modes[mode])


def _reduce(fn):
    return lambda a, x: fn(x, axis=None if a["axis"] is None else tuple(a["axis"]), keepdims=bool(a["keepdims"]))


GRAPH_OPS: dict[str, Callable] = {
    # exact in float32
    "add": lambda a, x, y: x + y,
    "subtract": lambda a, x, y: x - y,
    "multiply": lambda a, x, y: x * y,
    "divide": lambda a, x, y: x / y,
    "maximum": lambda a, x, y: np.maximum(x, y),
    "minimum": lambda a, x, y: np.minimum(x, y),
    "negative": lambda a, x: -x,
    "abs": lambda a, x: np.abs(x),
    "sqrt": lambda a, x: np.sqrt(x),
    "nn.relu": lambda a, x: np.maximum(x, x.dtype.type(0)),
    "nn.leakyrelu": lambda a, x: np.where(x >= 0, x, x.dtype.type(a["alpha"]) * x),
    "nn.prelu": lambda a, x, s: np.where(x >= 0, x, _channel_shape(x, a["axis"], s) * x),
    "clip": lambda a, x, lo, hi: np.minimum(np.maximum(x, x.dtype.type(lo)), x.dtype.type(hi)),
    "max": _reduce(np.max),
    "min": _reduce(np.min),
    "nn.max_pool2d": lambda a, x: max_pool2d(x, a),
    "astype": lambda a, x: x.astype(a["dtype"]),
    "identity": lambda a, x: x,
    "reshape": lambda a, x, shape: x.reshape(shape),
    "flatten": lambda a, x: x.reshape(x.shape[0], -1),
    "permute_dims": lambda a, x: np.transpose(x, a["axes"]),
    "concat": lambda a, xs: np.concatenate(xs, axis=a["axis"]),
    "split": lambda a, x: _split(x, a),
    "strided_slice": lambda a, x, *args: _strided_slice(x, *args),
    "take": lambda a, x, i: np.take(x, i, axis=a["axis"]),
    "nn.pad": lambda a, x: _pad(x, a),
    "squeeze": lambda a, x: np.squeeze(x, axis=tuple(a["axis"]) if a["axis"] is not None else None),
    "expand_dims": lambda a, x: np.expand_dims(x, tuple(a["axis"])),
    "broadcast_to": lambda a, x, shape: np.broadcast_to(x, shape).copy(),
    "tuple_get_item": lambda a, t: t[a["index"]],
    "less": lambda a, x, y: np.less(x, y),
    "sign": lambda a, x: np.sign(x),  # ONNX / Relax: three-valued, sign(0) = 0
    "where": lambda a, c, x, y: np.where(c, x, y).astype(np.result_type(x, y)),
    # float64, rounded once
    "mean": _f64(_reduce(np.mean)),
    "sum": _f64(_reduce(np.sum)),
    "prod": _f64(_reduce(np.prod)),
    "matmul": _f64(lambda a, x, y: np.matmul(x, y)),
    "einsum": lambda a, xs: np.einsum(a["subscripts"], *[x.astype(np.float64) for x in xs]).astype(np.float32),
    "nn.avg_pool2d": _f64(lambda a, x: avg_pool2d(x, a)),
    "nn.adaptive_avg_pool2d": _f64(lambda a, x: _adaptive_avg_pool2d(x, a)),
    "nn.batch_norm": _f64(lambda a, x, g, b, m, v: _batch_norm(x, g, b, m, v, a)),
    "nn.layer_norm": _f64(lambda a, x, g, b: _layer_norm(x, g, b, a)),
    "nn.softmax": _f64(lambda a, x: _softmax(x, a["axis"])),
    "sigmoid": _f64(lambda a, x: 1.0 / (1.0 + np.exp(-x))),
    "tanh": _f64(lambda a, x: np.tanh(x)),
    "exp": _f64(lambda a, x: np.exp(x)),
    "erf": _f64(lambda a, x: _erf(x).astype(np.float64)),
    "power": _f64(lambda a, x, y: np.power(x, y)),
    "nn.gelu": _f64(lambda a, x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))),
    "nn.gelu_tanh": _f64(lambda a, x: _gelu_tanh(x)),
    "image.resize2d": _f64(lambda a, x, size: _resize2d(x, size, a)),
}

assert FLOAT64_OPS <= set(GRAPH_OPS)
