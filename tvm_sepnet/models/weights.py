"""Parameters of a :class:`~tvm_sepnet.models.graph.Net`: deterministic initialisation and ``.npz`` files.

:func:`init_params` draws every parameter from ``numpy.random.default_rng(seed)`` in node order, so the
same seed always gives the same network. Conv and dense weights are drawn He-normal
(``std = sqrt(2 / fan_in)``), then rescaled so that ``W x`` has mean square 1 on a calibration batch
(LSUV: this keeps nets without batch norm, such as SqueezeNet, at O(1) activations too); biases are
``N(0, 0.1²)``. Batch norms get ``gamma ~ U(0.5, 1.5)``, ``beta ~ N(0, 0.1²)`` and running statistics
measured on the calibration batch (``mean = measured mean + N(0, 0.1² var)``,
``var = max(measured var, var.mean() / 4) * U(0.5, 2)``), the way a trained network's statistics follow
its activations. Every batch norm then re-normalizes what reaches it: activations stay O(1) through
residual sums and deep stacks (outputs finite, not all zero), while the statistics are far from the
identity, so batch-norm folding is exercised for real.

The calibration batch is ``N(0, 1)`` images of the net's own input size, drawn from the same generator
(2 images, or more, up to 32, until the smallest batch-norm input gives 32 values per channel): weight
scales and running statistics therefore depend on the image size as well as the seed (shapes do not, so
an ``.npz`` fits every image size). :func:`run_numpy` is the small float32 numpy executor used for it.
"""
from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING

import numpy as np

from tvm_sepnet.errors import InvalidWeightsError

if TYPE_CHECKING:  # type hints only: graph.py imports this module
    from .graph import Net

CALIBRATION_SAMPLES = 32  # values per channel wanted at the smallest batch-norm input
MAX_CALIBRATION_BATCH = 32


def _windows(x: np.ndarray, kernel, strides, padding, fill: float) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw) sliding windows of ``x`` padded with ``fill``."""
    pt, pl, pb, pr = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, tuple(kernel), axis=(2, 3))
    return win[:, :, ::strides[0], ::strides[1]]


def run_node(node, args: list[np.ndarray], params: dict) -> np.ndarray:
    """Run one layer in float32 numpy (the Relax / ONNX semantics of each op)."""
    op, a, p = node.op, node.attrs, node.name
    x = args[0]
    if op == "conv2d":
        w, g = params[f"{p}.weight"], a["groups"]
        win = _windows(x, a["kernel"], a["strides"], a["padding"], 0.0)
        n, c, ho, wo, kh, kw = win.shape
        win = win.reshape(n, g, c // g, ho, wo, kh, kw)
        wg = w.reshape(g, w.shape[0] // g, c // g, kh, kw)
        y = np.einsum("ngchwyx,gocyx->ngohw", win, wg, optimize=True).reshape(n, -1, ho, wo)
        return y + params[f"{p}.bias"].reshape(1, -1, 1, 1) if a["bias"] else y
    if op == "sign_conv2d":
        from schedules.xnor_conv2d.reference import xnor_conv2d

        w = np.where(params[f"{p}.weight"] < 0, -1, 1).astype(np.int8)
        return xnor_conv2d(x.astype(np.float32), w, params[f"{p}.multiplier"], params[f"{p}.bias"],
                           strides=a["strides"], padding=a["padding"], dilation=a.get("dilation", (1, 1)),
                           groups=a["groups"], pad_value=a["pad_value"], acc_relu=a["acc_relu"])
    if op == "clip":
        return np.clip(x, np.float32(a["lo"]), np.float32(a["hi"]))
    if op == "sign":
        return np.where(x < 0, -1.0, 1.0).astype(np.float32)
    if op == "batch_norm":
        gamma, beta, mean, var = (params[f"{p}.{k}"].reshape(1, -1, 1, 1) for k in ("gamma", "beta", "mean", "var"))
        return (x - mean) / np.sqrt(var + a["eps"]) * gamma + beta
    if op == "relu":
        return np.maximum(x, 0)
    if op == "add":
        return args[0] + args[1]
    if op == "concat":
        return np.concatenate(args, axis=1)
    if op == "max_pool2d":
        return _windows(x, a["kernel"], a["strides"], a["padding"], -np.inf).max(axis=(4, 5))
    if op == "avg_pool2d":
        total = _windows(x, a["kernel"], a["strides"], a["padding"], 0.0).sum(axis=(4, 5))
        count = _windows(np.ones_like(x[:1, :1]), a["kernel"], a["strides"], a["padding"], 0.0).sum(axis=(4, 5))
        return total / count
    if op == "global_avg_pool2d":
        return x.mean(axis=(2, 3), keepdims=True)
    if op == "flatten":
        return x.reshape(x.shape[0], -1)
    if op == "dense":
        return x @ params[f"{p}.weight"].T + params[f"{p}.bias"]
    if op == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(f"layer {p!r}: unknown op {op!r}")


def run_numpy(net: Net, x: np.ndarray) -> np.ndarray:
    """The output of ``net`` on ``x``, computed with numpy (float32)."""
    env = {net.input_name: np.asarray(x, np.float32)}
    for node in net.nodes:
        env[node.output] = run_node(node, [env[i] for i in node.inputs], net.params).astype(np.float32)
    return env[net.output]


def _calibration_batch(net: Net) -> int:
    shapes = net.shapes()
    sizes = [int(np.prod(shapes[n.inputs[0]][2:])) for n in net.nodes if n.op == "batch_norm"]
    smallest = min(sizes, default=CALIBRATION_SAMPLES)
    return int(np.clip(-(-CALIBRATION_SAMPLES // smallest), 2, MAX_CALIBRATION_BATCH))


def init_params(net: Net, seed: int = 0) -> Net:
    """Fill ``net.params`` deterministically from ``seed`` (see the module docstring); returns ``net``."""
    rng = np.random.default_rng(seed)
    shapes = net.param_shapes()
    params: dict[str, np.ndarray] = {}

    def draw(key, sample):
        params[key] = np.asarray(sample(shapes[key]), dtype=np.float32)

    calib_shape = (_calibration_batch(net),) + tuple(net.input_shape[1:])
    env = {net.input_name: rng.standard_normal(calib_shape).astype(np.float32)}
    for node in net.nodes:
        p = node.name
        x = env[node.inputs[0]]
        if node.op == "sign_conv2d":  # latent float weights (their signs count), multiplier 1 or mean|W|, bias 0
            draw(f"{p}.weight", lambda s: rng.standard_normal(s))
            if node.attrs.get("weight_scale") == "mean_abs":  # magnitude-aware sign (Bi-Real Net)
                wabs = np.abs(params[f"{p}.weight"].astype(np.float64))
                draw(f"{p}.multiplier", lambda s: wabs.reshape(s[0], -1).mean(axis=1))
            else:
                draw(f"{p}.multiplier", lambda s: np.ones(s))
            draw(f"{p}.bias", lambda s: np.zeros(s))
        elif node.op in ("conv2d", "dense"):
            fan_in = int(np.prod(shapes[f"{p}.weight"][1:]))
            draw(f"{p}.weight", lambda s: rng.normal(0.0, np.sqrt(2.0 / fan_in), s))
            if f"{p}.bias" in shapes:
                draw(f"{p}.bias", lambda s: rng.normal(0.0, 0.1, s))
        elif node.op == "batch_norm":
            mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
            var = x.var(axis=(0, 2, 3), dtype=np.float64)
            var = np.maximum(var, 0.25 * max(float(var.mean()), 1e-6))  # few samples, constant channels
            draw(f"{p}.gamma", lambda s: rng.uniform(0.5, 1.5, s))
            draw(f"{p}.beta", lambda s: rng.normal(0.0, 0.1, s))
            if not node.attrs.get("scale", True):
                params[f"{p}.gamma"] = np.ones_like(params[f"{p}.gamma"])
            if not node.attrs.get("center", True):
                params[f"{p}.beta"] = np.zeros_like(params[f"{p}.beta"])
            draw(f"{p}.mean", lambda s: mean + rng.normal(0.0, 0.1, s) * np.sqrt(var))
            draw(f"{p}.var", lambda s: var * rng.uniform(0.5, 2.0, s))
        if node.attrs.get("fixed") == "blurpool":  # a fixed depthwise blur, [1, 2, 1] outer product / 16
            k = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
            params[f"{p}.weight"] = np.broadcast_to(k, shapes[f"{p}.weight"]).astype(np.float32).copy()
        y = run_node(node, [env[i] for i in node.inputs], params)
        if node.op in ("conv2d", "dense") and not node.attrs.get("fixed"):  # LSUV: unit mean square of W x on calibration
            wx = y - params[f"{p}.bias"].reshape((1, -1) + (1,) * (y.ndim - 2)) if f"{p}.bias" in params else y
            scale = np.float32(1.0 / np.sqrt(max(float(np.mean(np.square(wx, dtype=np.float64))), 1e-12)))
            params[f"{p}.weight"] *= scale
            y = run_node(node, [env[i] for i in node.inputs], params)
        env[node.output] = y.astype(np.float32)
    net.params = {k: params[k] for k in shapes}
    return net


def save_npz(net: Net, path: str) -> str:
    """Write ``net.params`` to an ``.npz`` keyed by parameter name; returns the path written."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    np.savez(path, **net.params)
    return path


def load_npz(net: Net, path: str) -> Net:
    """Replace ``net.params`` with the arrays of the ``.npz`` at ``path`` (keys = parameter names).

    Every parameter of the net must be present with its exact shape, and no other key may appear:
    otherwise :class:`~tvm_sepnet.errors.InvalidWeightsError` (a ``ValueError``) names the key and
    the expected vs found shape. Arrays are cast to float32. Returns ``net``."""
    expected = net.param_shapes()
    try:
        with np.load(os.fspath(path), allow_pickle=False) as f:
            found = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InvalidWeightsError(f"weights {os.fspath(path)!r}: cannot read as .npz: {err}") from err
    where = f"weights {os.fspath(path)!r} for {net.name!r}"
    missing = [k for k in expected if k not in found]
    if missing:
        k = missing[0]
        raise InvalidWeightsError(
            f"{where}: missing key {k!r} (expected shape {expected[k]}, found none)"
            + (f"; {len(missing) - 1} more missing" if len(missing) > 1 else ""))
    unknown = [k for k in found if k not in expected]
    if unknown:
        k = unknown[0]
        raise InvalidWeightsError(
            f"{where}: unknown key {k!r} (expected no such parameter, found shape {tuple(found[k].shape)})")
    for k, shape in expected.items():
        if tuple(found[k].shape) != tuple(shape):
            raise InvalidWeightsError(
                f"{where}: key {k!r} has the wrong shape: expected {tuple(shape)}, found {tuple(found[k].shape)}")
    net.params = {k: np.asarray(found[k], dtype=np.float32) for k in expected}
    return net
