"""Convert a :class:`~tvm_sepnet.models.graph.Net` to an ONNX model (float32, static shapes).

Parameters become initializers named like the params (``conv1.weight``); nodes are named after the
layers (``conv1``, ``conv1.bn``, ...) and their outputs after the tensors. Op mapping: Conv (group, pads
``[top, left, bottom, right]``, strides), BatchNormalization, Relu, Add, Concat (axis 1), MaxPool /
AveragePool (``count_include_pad=0``, floor mode), GlobalAveragePool, Flatten (axis 1),
Gemm (``transB=1``) and Softmax (axis 1). Needs the ``onnx`` package (the ``[onnx]`` extra).
"""
from __future__ import annotations

import os

from .graph import Net


def to_onnx(net: Net, opset: int = 17):
    """The ``onnx.ModelProto`` of ``net`` (checked with ``onnx.checker.check_model``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shapes = net.shapes()
    nodes = []
    for node in net.nodes:
        op, a, p = node.op, node.attrs, node.name
        ins, out = list(node.inputs), [node.output]
        if op == "conv2d":
            (pt, pl, pb, pr) = a["padding"]
            ins += [f"{p}.weight"] + ([f"{p}.bias"] if a["bias"] else [])
            nodes.append(helper.make_node("Conv", ins, out, name=p, kernel_shape=list(a["kernel"]),
                                          strides=list(a["strides"]), pads=[pt, pl, pb, pr], group=a["groups"],
                                          dilations=[1, 1]))
        elif op == "batch_norm":
            ins += [f"{p}.{k}" for k in ("gamma", "beta", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", ins, out, name=p, epsilon=a["eps"]))
        elif op in ("max_pool2d", "avg_pool2d"):
            (pt, pl, pb, pr) = a["padding"]
            kw = {"count_include_pad": 0} if op == "avg_pool2d" else {}
            nodes.append(helper.make_node("MaxPool" if op == "max_pool2d" else "AveragePool", ins, out, name=p,
                                          kernel_shape=list(a["kernel"]), strides=list(a["strides"]),
                                          pads=[pt, pl, pb, pr], ceil_mode=int(a.get("ceil_mode", False)), **kw))
        elif op == "dense":
            ins += [f"{p}.weight", f"{p}.bias"]
            nodes.append(helper.make_node("Gemm", ins, out, name=p, transB=1))
        elif op == "concat":
            nodes.append(helper.make_node("Concat", ins, out, name=p, axis=a.get("axis", 1)))
        elif op in ("flatten", "softmax"):
            nodes.append(helper.make_node(op.capitalize(), ins, out, name=p, axis=a.get("axis", 1)))
        elif op in ("relu", "add", "global_avg_pool2d"):
            onnx_op = {"relu": "Relu", "add": "Add", "global_avg_pool2d": "GlobalAveragePool"}[op]
            nodes.append(helper.make_node(onnx_op, ins, out, name=p))
        else:
            raise ValueError(f"layer {p!r}: op {op!r} has no ONNX conversion")
    graph = helper.make_graph(
        nodes, net.name,
        [helper.make_tensor_value_info(net.input_name, TensorProto.FLOAT, list(net.input_shape))],
        [helper.make_tensor_value_info(net.output, TensorProto.FLOAT, list(shapes[net.output]))],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in net.params.items()],
    )
    model = helper.make_model(graph, producer_name="tvm-sepnet", opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def save_onnx(net: Net, path: str, opset: int = 17, dynamic_batch: bool = False) -> str:
    """Write ``to_onnx(net, opset)`` to ``path``; returns the path. ``dynamic_batch``: the input's and the
    output's batch dimension become the symbolic ``N`` (``dim_param``), so the file runs any batch in
    onnxruntime and compiles with ``tvm-sepnet compile --batch N`` to an artifact that runs any batch."""
    import onnx

    path = os.fspath(path)
    model = to_onnx(net, opset)
    if dynamic_batch:
        for value in list(model.graph.input) + list(model.graph.output):
            value.type.tensor_type.shape.dim[0].dim_param = "N"
        onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
