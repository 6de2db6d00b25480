"""Binary activations in ONNX files: QONNX ``BipolarQuant`` and the ``Sign -> Conv`` pattern of PyTorch exports.

:func:`rewrite_bipolar_quant` turns every QONNX ``BipolarQuant(x, scale)`` (domain
``qonnx.custom_op.general``, or ``onnx.brevitas`` of older Brevitas) into standard ONNX before the
Relax frontend sees the graph (QONNX semantics: ``y = (x >= 0 ? +1 : -1) * scale``, 0 -> +1):

- on a constant (an initializer: binary weights) it becomes the constant ``where(W >= 0, 1, -1) * scale``
  (the scale kept as the graph has it, per channel ``[C_out, 1, 1, 1]`` or per tensor);
- on an activation it becomes ``Where(Less(x, 0), -scale, scale)`` (a per-tensor scale), which
  ``relay_passes.BinarizeSignActivations`` then turns, with the conv that reads it, into a sign layer.

ONNX ``Sign`` (PyTorch's ``torch.sign``) is three-valued: ``Sign(0) = 0``. A ``Sign -> Conv`` becomes a
sign layer too, which maps 0 to +1 (Larq's and Brevitas' convention): results differ where an
activation is exactly 0 (docs/numerics.md, "Sign layers").
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError

BIPOLAR_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")


def rewrite_bipolar_quant(model):
    """The model with every ``BipolarQuant`` replaced by standard ONNX (module docstring); in place."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    new_nodes = []
    for node in graph.node:
        if node.op_type != "BipolarQuant" or node.domain not in BIPOLAR_DOMAINS:
            new_nodes.append(node)
            continue
        x_name, s_name = node.input[0], node.input[1]
        scale = _constant(s_name, inits, producers)
        if scale is None:
            raise UnsupportedOpError(f"ONNX node {node.name!r}: BipolarQuant with a run-time scale is not supported")
        if x_name in inits:  # binary weights
            w = numpy_helper.to_array(inits[x_name]).astype(np.float32)
            value = (np.where(w >= 0, 1.0, -1.0) * scale).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
            continue
        if scale.size != 1:
            raise UnsupportedOpError(f"ONNX node {node.name!r}: BipolarQuant on activations with a per-channel scale "
                                     f"{scale.shape} is not supported (per tensor only)")
        s = float(scale.reshape(-1)[0])
        base = node.name or node.output[0]
        zero, neg, pos, less = (f"{base}/zero", f"{base}/neg", f"{base}/pos", f"{base}/less")
        graph.initializer.extend([numpy_helper.from_array(np.array(0.0, np.float32), zero),
                                  numpy_helper.from_array(np.array(-s, np.float32), neg),
                                  numpy_helper.from_array(np.array(s, np.float32), pos)])
        new_nodes.append(helper.make_node("Less", [x_name, zero], [less], name=f"{base}/Less"))
        new_nodes.append(helper.make_node("Where", [less, neg, pos], [node.output[0]], name=f"{base}/Where"))
    del graph.node[:]
    graph.node.extend(new_nodes)
    kept = [op for op in model.opset_import if op.domain not in BIPOLAR_DOMAINS]
    if len(kept) != len(model.opset_import):
        del model.opset_import[:]
        model.opset_import.extend(kept)
    onnx.checker.check_model(model)
    return model


def _constant(name, inits, producers):
    from onnx import numpy_helper

    if name in inits:
        return numpy_helper.to_array(inits[name]).astype(np.float32)
    node = producers.get(name)
    if node is not None and node.op_type == "Constant":
        for attr in node.attribute:
            if attr.name == "value":
                return numpy_helper.to_array(attr.t).astype(np.float32)
    return None


def has_bipolar_quant(model) -> bool:
    return any(n.op_type == "BipolarQuant" and n.domain in BIPOLAR_DOMAINS for n in model.graph.node)
