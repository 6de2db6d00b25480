"""Fold what an ONNX graph computes on constants and static shapes into initializers, before conversion.

Exporters write shape arithmetic into the graph: the legacy exporter's channel shuffle is
``Shape -> Gather -> Div -> Unsqueeze -> Concat -> Reshape``, ``Identity`` nodes alias weights, and
``Constant`` nodes hold scalars. With static input shapes all of it is known at import:

* ``Shape`` / ``Size`` of a tensor whose shape ONNX shape inference fixes become constants;
* a node whose inputs are all constants (initializers, ``Constant`` outputs or folded values) is
  evaluated once by ``onnx.reference`` (numpy) under the model's opsets and becomes an initializer.

Numerics: a folded value is exactly what onnxruntime would compute for it (integer shape arithmetic;
float nodes on constants in numpy float32, as the ONNX reference defines them). Nothing that depends on
the graph input is evaluated. Nodes with subgraphs, random ops and non-default domains are left alone.
"""
from __future__ import annotations

import numpy as np

#: ops never evaluated at import (random, or with subgraphs)
_NOT_FOLDED = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                         "Bernoulli", "If", "Loop", "Scan", "Dropout"})


def _static_shapes(model, input_shapes: dict) -> dict:
    """{tensor name: shape tuple} for every tensor whose shape shape inference fixes (with the graph inputs
    pinned to ``input_shapes``)."""
    import onnx
    from onnx import helper

    inputs = []
    for inp in model.graph.input:
        if inp.name in input_shapes:
            inp = helper.make_tensor_value_info(inp.name, inp.type.tensor_type.elem_type, list(input_shapes[inp.name]))
        inputs.append(inp)
    # weights enter as typed inputs (their shapes, not their data): the copy stays small; small integer
    # initializers (shapes, axes, indices: what Reshape / Slice / Gather read) keep their data
    named = {i.name for i in inputs}
    small = [i for i in model.graph.initializer if i.name not in named and _is_small_integer(i)]
    inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
               for i in model.graph.initializer if i.name not in named and not _is_small_integer(i)]
    pinned = _with_graph(model, model.graph.node, inputs, small)
    try:
        inferred = onnx.shape_inference.infer_shapes(pinned, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is an optimisation: without it only constants fold
        return {}
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)
    return shapes


def _is_small_integer(tensor) -> bool:
    """An int64 / int32 initializer of at most 64 elements."""
    from onnx import TensorProto

    return tensor.data_type in (TensorProto.INT64, TensorProto.INT32) and int(np.prod(tensor.dims)) <= 64


def _shape_value(node, shape: tuple) -> np.ndarray:
    """The value of a ``Shape`` (with its ``start``/``end`` attributes) or ``Size`` node."""
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    start, end = attrs.get("start", 0), attrs.get("end", len(shape))
    return np.array(shape[start:end] if "end" in attrs else shape[start:], np.int64)


class _Evaluator:
    """Evaluates one node on constant inputs with ``onnx.reference`` under the model's opsets."""

    def __init__(self, model):
        self.opsets = list(model.opset_import)
        self.ir_version = model.ir_version

    def __call__(self, node, values: list) -> list:
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        names = [f"in{i}" for i in range(len(values))]
        inputs = [n if n else "" for n in node.input]
        renamed = helper.make_node(node.op_type, [names[i] if n else "" for i, n in enumerate(inputs)],
                                   list(node.output), domain=node.domain)
        renamed.attribute.extend(node.attribute)
        graph = helper.make_graph([renamed], "fold", [helper.make_tensor_value_info(n, 0, None) for n in names],
                                  [helper.make_tensor_value_info(o, 0, None) for o in node.output if o])
        model = helper.make_model(graph, opset_imports=self.opsets)
        model.ir_version = self.ir_version
        return ReferenceEvaluator(model).run(None, dict(zip(names, values)))


def fold_static_subgraphs(model, input_shapes: dict, keep_ops=(), max_rounds: int = 100):
    """``(model, folded)``: a copy of ``model`` where every node computable at import (see the module
    docstring) is replaced by initializers of its outputs, and the number of nodes folded (ops in ``keep_ops``
    stay: the trainer's QuantizeLinear / DequantizeLinear, read by ``onnx_quantizers``). Initializers
    left unused are dropped; the graph's inputs, outputs and other nodes are unchanged.

    Folding runs in rounds until one folds nothing: a ``Reshape`` whose target shape was folded in one round
    has a static output shape in the next, so a ``Shape`` of it folds then (Swin's window attention, as the
    legacy exporter writes it, takes 17 rounds at 224×224, 5 s)."""
    total = 0
    for _ in range(max_rounds):
        model, folded = _fold_once(model, input_shapes, keep_ops)
        total += folded
        if not folded:
            break
    return model, total


def _fold_once(model, input_shapes: dict, keep_ops=()):
    """One round of :func:`fold_static_subgraphs` (shape inference once, then one pass over the nodes)."""
    import onnx
    from onnx import numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    consts: dict = {}  # folded (and used) constant values by name

    def value(name):
        if name not in consts:
            consts[name] = numpy_helper.to_array(initializers[name])
        return consts[name]

    shapes = _static_shapes(model, input_shapes)
    evaluate = _Evaluator(model)
    kept, folded = [], {}
    for node in model.graph.node:
        known = [not n or n in initializers or n in folded for n in node.input]
        outputs = None
        if node.domain not in ("", "ai.onnx") or node.op_type in _NOT_FOLDED or node.op_type in keep_ops or \
                any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            outputs = None
        elif node.op_type in ("Shape", "Size") and node.input[0] in shapes:
            outputs = [_shape_value(node, shapes[node.input[0]])]
        elif all(known):
            args = [None if not n else (folded[n] if n in folded else value(n)) for n in node.input]
            try:
                outputs = evaluate(node, args)
            except Exception:  # noqa: BLE001 - a node the numpy reference cannot evaluate stays in the graph
                outputs = None
        if outputs is None:
            kept.append(node)
            continue
        for name, out in zip(node.output, outputs):
            if name:
                folded[name] = np.asarray(out)
    if not folded:
        return model, 0
    used = {n for node in kept for n in node.input} | {o.name for o in model.graph.output}
    weights = [i for i in model.graph.initializer if i.name in used and i.name not in folded]
    weights += [numpy_helper.from_array(v, name) for name, v in folded.items() if name in used]
    out = _with_graph(model, kept, [i for i in model.graph.input if i.name not in folded], weights)
    out.graph.value_info.extend(v for v in model.graph.value_info if v.name not in folded)
    return out, len(model.graph.node) - len(kept)


def _with_graph(model, nodes, inputs, initializers):
    """A model with ``model``'s metadata, opsets, outputs and local functions and the given nodes, graph
    inputs and initializers (no value_info)."""
    from onnx import helper

    graph = helper.make_graph(list(nodes), model.graph.name, list(inputs), list(model.graph.output),
                              list(initializers))
    out = helper.make_model(graph, opset_imports=list(model.opset_import), functions=list(model.functions),
                            producer_name=model.producer_name, producer_version=model.producer_version)
    out.ir_version = model.ir_version
    out.metadata_props.extend(model.metadata_props)
    return out
