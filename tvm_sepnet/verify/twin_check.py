"""Compare a compiled model with its ONNX twin (:mod:`.ort_twin`) run by onnxruntime.

:func:`check_with_twin` is the check: the forced twin computes every conv layer from the compiled
model's own layer inputs and bounds ``|twin - compiled|`` per element (:mod:`.bounds`); a layer or
output whose difference exceeds its bound anywhere is a mismatch. It needs the compiled value of every
conv layer: an artifact built with ``probe_layers=True``. :func:`free_running_error` is a measured
figure, not a check: the whole twin against the compiled outputs.
"""
from __future__ import annotations

import numpy as np

from ..errors import SepnetError
from .ort_twin import build_twin, named_inputs, run_twin


def _compare(name: str, twin: np.ndarray, compiled: np.ndarray, tol: np.ndarray, flips=None) -> dict:
    diff = np.abs(twin.astype(np.float64) - compiled.astype(np.float64))
    tol = tol.astype(np.float64)
    over = diff > tol
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    return {"name": name, "max_abs_err": float(diff.max(initial=0.0)), "max_tolerance": float(tol.max(initial=0.0)),
            "worst_ratio": float(ratio.max(initial=0.0)), "violations": int(over.sum()),
            "flip_candidates": None if flips is None else int(flips.sum()),
            "scale": float(np.abs(compiled).max(initial=0.0)), "match": not bool(over.any())}


def check_with_twin(graph: dict, consts: dict, inputs, outputs: list, layer_outputs: dict) -> dict:
    """Check compiled ``outputs`` (the model's, in graph order) and ``layer_outputs`` (conv node name ->
    compiled output) against the forced twin. Returns ``match``, ``layers`` and ``outputs`` rows
    (``max_abs_err``, ``max_tolerance``, ``worst_ratio`` = max |diff| / bound, ``violations``: elements
    over their bound, ``flip_candidates``: quantizer inputs that may round the other way)."""
    inputs = named_inputs(graph["inputs"], inputs)
    twin = build_twin(graph, consts, forced=True)
    missing = [row["node"] for row in twin.layers if row["node"] not in layer_outputs]
    if missing:
        raise SepnetError(f"the twin check needs the compiled output of every conv layer; missing {missing[:3]}"
                          f"{'...' if len(missing) > 3 else ''} (build with probe_layers=True)")
    got = twin.run(inputs, layer_outputs)
    layers = [_compare(row["layer"], got[row["twin"]], np.asarray(layer_outputs[row["node"]]), got[row["tolerance"]],
                       got[row["flips"]] if row["flips"] else None) for row in twin.layers]
    outs = [_compare(row["node"], got[row["twin"]], np.asarray(out), got[row["tolerance"]])
            for row, out in zip(twin.outputs, outputs)]
    return {"match": all(r["match"] for r in layers + outs), "layers": layers, "outputs": outs}


def check_artifact(art, inputs) -> dict:
    """:func:`check_with_twin` for an :class:`~tvm_sepnet.artifact.Artifact` built with
    ``probe_layers=True`` (its ``graph``, ``consts``, ``meta["probes"]`` and ``run``)."""
    probes = art.meta.get("probes")
    if not probes:
        raise SepnetError("the twin check needs an artifact with layer probes; build it with probe_layers=True "
                          "(tvm-sepnet compile --probe-layers)")
    inputs = named_inputs(art.graph["inputs"], inputs)
    got = art.run(inputs)
    n_out = len(art.graph["outputs"])
    layer_outputs = {p["node"]: g for p, g in zip(probes, got[n_out:])}
    return check_with_twin(art.graph, art.consts, inputs, got[:n_out], layer_outputs)


def free_running_error(graph: dict, consts: dict, inputs, outputs: list) -> dict:
    """max_abs_err and max_rel_err (to max |twin|) of compiled ``outputs`` against the free-running twin."""
    want = run_twin(graph, consts, named_inputs(graph["inputs"], inputs))
    err = max(float(np.max(np.abs(np.asarray(g, np.float64) - w))) for g, w in zip(outputs, want))
    scale = max(float(np.max(np.abs(w))) for w in want) or 1.0
    return {"max_abs_err": err, "max_rel_err": err / scale}
