"""Layer names for the conv and dense nodes of an ONNX graph: the PyTorch module path when the exporter left one.

The two ``torch.onnx`` exporters name things differently: the legacy exporter names nodes by module scope
(``/layer1/layer1.0/conv1/Conv``) and, when it folds batch norm, names the weight ``onnx::Conv_196``;
the dynamo exporter names nodes ``node_Conv_295`` and keeps the parameter name (``layer1.0.conv1.weight``).
Both give the module path ``layer1.0.conv1`` here, so a layer has the same name whichever exporter wrote
the file (``--skip``, tuning records and ``inspect`` rows carry over). Other producers keep their node
names.
"""
from __future__ import annotations


def module_path_of_scope(node_name: str) -> str | None:
    """``layer1.0.conv1`` from a legacy-exporter scope name ``/layer1/layer1.0/conv1/Conv`` (each segment
    that extends the previous one, ``layer1.0`` after ``layer1``, replaces it), else None."""
    if not node_name.startswith("/") or node_name.count("/") < 2:
        return None
    parts: list[str] = []
    for seg in node_name.strip("/").split("/")[:-1]:  # the last segment is the op (Conv, Conv_1)
        if parts and seg.startswith(parts[-1] + "."):
            parts[-1] = seg
        else:
            parts.append(seg)
    return ".".join(parts) or None


def module_path_of_weight(weight_name: str) -> str | None:
    """``layer1.0.conv1`` from a parameter name ``layer1.0.conv1.weight``, else None (``onnx::Conv_196``)."""
    if weight_name.endswith(".weight") and "::" not in weight_name:
        return weight_name[: -len(".weight")]
    return None


def layer_names(model) -> list[str]:
    """Names of the model's layers in graph order: Conv nodes, and Gemm / MatMul nodes whose weight (second
    input) is an initializer (the dense layers ``WrapConvLayers`` can wrap). For a PyTorch export the
    module path (from the weight's name, then the node's scope), else the node name, else ``layer{i}``.
    Uniqueness is the compiler's business (``WrapConvLayers``)."""
    torch = model.producer_name == "pytorch"
    weights = {i.name for i in model.graph.initializer}
    names = []
    for node in model.graph.node:
        weight = node.input[1] if len(node.input) > 1 else ""
        if node.op_type != "Conv" and not (node.op_type in ("Gemm", "MatMul") and weight in weights):
            continue
        path = (module_path_of_weight(weight) or module_path_of_scope(node.name)) if torch else None
        names.append(path or node.name or f"layer{len(names)}")
    return names
