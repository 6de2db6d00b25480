"""Parameters of a :class:`~tvm_sepnet.models.graph.Net`: deterministic initialisation and ``.npz`` files.

:func:`init_params` draws every parameter from ``numpy.random.default_rng(seed)`` in node order, so the
same seed always gives the same network. Conv and dense weights are He-normal
(``std = sqrt(2 / fan_in)``). Batch-norm layers get ``gamma ~ U(0.5, 1.5)``, ``beta ~ N(0, 0.1²)`` and
running statistics that follow the activations: the second moment ``m2`` of every tensor is propagated
through the graph (input 1, conv ×2 from He init, ReLU ÷2, add sums, BN output ≈ 1), and each BN gets
``var = m2_in * U(0.5, 2)`` and ``mean ~ N(0, 0.1² m2_in)``. Activations therefore stay O(1) through
residual sums and deep stacks: outputs are finite and not all zero, as a trained network's would be.
"""
from __future__ import annotations

import os

import numpy as np

from tvm_sepnet.errors import InvalidWeightsError

from .graph import Net


def init_params(net: Net, seed: int = 0) -> Net:
    """Fill ``net.params`` deterministically from ``seed`` (see the module docstring); returns ``net``."""
    rng = np.random.default_rng(seed)
    shapes = net.shapes()
    m2 = {net.input_name: 1.0}
    params: dict[str, np.ndarray] = {}
    for node in net.nodes:
        ins = [m2[i] for i in node.inputs]
        p, a = node.name, node.attrs
        if node.op in ("conv2d", "dense"):
            if node.op == "conv2d":
                cin = shapes[node.inputs[0]][1] // a["groups"]
                w_shape = (a["channels"], cin) + tuple(a["kernel"])
            else:
                w_shape = (a["units"], shapes[node.inputs[0]][1])
            fan_in = int(np.prod(w_shape[1:]))
            params[f"{p}.weight"] = rng.normal(0.0, np.sqrt(2.0 / fan_in), w_shape)
            out = 2.0 * ins[0]
            if node.op == "dense" or a["bias"]:
                params[f"{p}.bias"] = rng.normal(0.0, 0.1, w_shape[0])
                out += 0.01
        elif node.op == "batch_norm":
            c = shapes[node.inputs[0]][1]
            params[f"{p}.gamma"] = rng.uniform(0.5, 1.5, c)
            params[f"{p}.beta"] = rng.normal(0.0, 0.1, c)
            params[f"{p}.mean"] = rng.normal(0.0, 0.1 * np.sqrt(ins[0]), c)
            params[f"{p}.var"] = ins[0] * rng.uniform(0.5, 2.0, c)
            out = 1.01
        elif node.op == "relu":
            out = ins[0] / 2.0
        elif node.op == "add":
            out = float(sum(ins))
        elif node.op == "concat":
            chans = [shapes[i][1] for i in node.inputs]
            out = float(np.dot(ins, chans) / sum(chans))
        else:  # pools, flatten, softmax: keep the scale
            out = ins[0]
        m2[node.output] = out
    net.params = {k: v.astype(np.float32) for k, v in params.items()}
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
    except (OSError, ValueError) as err:
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
