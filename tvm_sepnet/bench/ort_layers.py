"""Per-layer time of the float network in onnxruntime: its per-node profiler (``enable_profiling``),
node times charged to our conv layers.

onnxruntime fuses a Conv with the BatchNormalization / Relu / Add after it and names the fused node
after one of them (``conv1.relu_nchwc``, ``sep2_1.prb1.kxk.bn_nchwc``). Each ONNX node gets an owner
layer: a Conv (or Gemm / MatMul by a constant) is the layer :func:`tvm_sepnet.frontend.onnx_names.layer_names`
names, an element-wise node (BatchNormalization, Relu, Clip, Add, ...) whose first input an owned node
wrote belongs to that node's layer. A profiled node (its name without the suffixes onnxruntime adds)
is charged to its node's owner; nodes without an owner (pooling, layout reorders, the classifier's
pooling) are charged to ``other: <op>``.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict

import numpy as np

FOLLOWERS = {"BatchNormalization", "Relu", "Clip", "LeakyRelu", "Add", "Sum", "Mul", "Sigmoid", "HardSigmoid",
             "HardSwish", "PRelu", "Identity"}
_SUFFIX = re.compile(r"(_nchwc|_token_\d+)+$")


def node_owners(model) -> dict[str, str]:
    """{ONNX node name or output tensor name: our layer name} of the Conv / dense nodes and the
    element-wise nodes after them."""
    from ..frontend.onnx_names import layer_names

    weights = {i.name for i in model.graph.initializer}
    names = iter(layer_names(model))
    owners, produced = {}, {}
    for node in model.graph.node:
        weight = node.input[1] if len(node.input) > 1 else ""
        owner = None
        if node.op_type == "Conv" or (node.op_type in ("Gemm", "MatMul") and weight in weights):
            owner = next(names)
        elif node.op_type in FOLLOWERS and node.input:
            owner = produced.get(node.input[0])
        if owner is not None:
            owners[node.name] = owner
            for out in node.output:
                produced[out] = owner
    # onnxruntime names a node it rewrites to NCHWc by the tensor it outputs ("<output>_nchwc"): a layer's
    # output tensors name it too
    return {**produced, **owners}


def ort_layer_times(onnx_path: str, inputs: dict, repeat: int = 10, threads: int = 1) -> dict:
    """{"layers": {layer: ms}, "other": {"other: op": ms}, "total_ms", "run_median_ms"}: the median over
    ``repeat`` profiled runs (after one warm-up run) of each group's summed node time, their sum (as
    the per-layer profile of our side sums its groups' medians), and the median of the runs' summed
    node times; onnxruntime CPU with all graph optimizations on ``threads`` threads."""
    import onnx
    import onnxruntime as ort

    owners = node_owners(onnx.load(onnx_path, load_external_data=False))
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory() as tmp:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        feed = {i.name: np.asarray(inputs[i.name] if i.name in inputs else next(iter(inputs.values())))
                for i in sess.get_inputs()}
        for _ in range(repeat + 1):
            sess.run(None, feed)
        with open(sess.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    runs.sort(key=lambda e: e["ts"])
    per_run: list[dict] = [defaultdict(float) for _ in runs]
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        i = next((k for k, r in enumerate(runs) if r["ts"] <= e["ts"] <= r["ts"] + r["dur"]), None)
        if i is None or i == 0:  # outside a run, or the warm-up run
            continue
        node = _SUFFIX.sub("", e["name"][: -len("_kernel_time")])
        group = owners.get(node) or f"other: {e.get('args', {}).get('op_name', node)}"
        per_run[i][group] += e["dur"] / 1e3
    per_run = per_run[1:]
    groups = sorted({g for r in per_run for g in r})
    med = {g: float(np.median([r.get(g, 0.0) for r in per_run])) for g in groups}
    return {"layers": {g: v for g, v in med.items() if not g.startswith("other: ")},
            "other": {g: v for g, v in med.items() if g.startswith("other: ")},
            "total_ms": float(sum(med.values())), "run_median_ms": float(np.median([sum(r.values()) for r in per_run])),
            "threads": threads,
            "onnxruntime": ort.__version__}


__all__ = ["node_owners", "ort_layer_times"]
