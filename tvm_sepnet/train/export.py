"""QONNX files of trained models, with the trainer's quantizers as QONNX nodes.

* Brevitas (QAT) models: ``brevitas.export.export_qonnx`` (``Quant`` on int weights and activations,
  ``BipolarQuant`` on binary weights).
* The seed's procedure (plain torch): ``torch.onnx.export`` of the network with each conv reading its
  stored weights (``B`` for binary convs), then per quantized conv a QONNX node is inserted in front of
  its weight input: ``BipolarQuant(B, alpha[o])`` for binary convs, ``Quant(W, s[o], 0, 8)``
  (signed, narrow, ROUND; ``s = max|W[o]| / 127``) for int8 convs, and ``Quant(x, in_scale, 0, A)``
  (unsigned, ROUND) in front of its data input when it has an input quantizer. The file computes what
  the torch model computes (:meth:`.models.SeedConv.forward`).
"""
from __future__ import annotations

import numpy as np

QONNX_DOMAIN = "qonnx.custom_op.general"
INPUT_SHAPE = (1, 1, 16, 16)


def export_brevitas(model, path: str) -> str:
    import torch
    from brevitas.export import export_qonnx

    model.eval()
    export_qonnx(model, input_t=torch.zeros(INPUT_SHAPE), export_path=path)
    return path


def export_seed(model, path: str) -> str:
    import onnx
    import torch
    from onnx import helper, numpy_helper

    convs = model.quantizable_convs()
    for _, conv in model.convs():
        conv.exporting = True
    try:
        model.eval()
        torch.onnx.export(model, (torch.zeros(INPUT_SHAPE),), path, input_names=["x"], output_names=["logits"],
                          dynamo=False, do_constant_folding=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE)
    finally:
        for _, conv in model.convs():
            conv.exporting = False
    m = onnx.load(path)
    g = m.graph
    weight_of = {f"{name}.{'signs' if conv.mode == 'binary' else 'weight'}": conv for name, conv in convs}
    nodes, inits = [], []
    for node in g.node:
        conv = weight_of.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if conv is None:
            nodes.append(node)
            continue
        base = node.input[1]
        if conv.mode == "binary":
            alpha = conv.alpha.detach().numpy().astype(np.float32).reshape(-1, 1, 1, 1)
            inits.append(numpy_helper.from_array(alpha, f"{base}.alpha"))
            nodes.append(helper.make_node("BipolarQuant", [base, f"{base}.alpha"], [f"{base}.q"],
                                          name=f"{base}.BipolarQuant", domain=QONNX_DOMAIN))
        elif conv.mode == "int8":
            w = conv.weight.detach().numpy()
            s = (np.abs(w).reshape(w.shape[0], -1).max(axis=1) / 127).astype(np.float32).reshape(-1, 1, 1, 1)
            inits += [numpy_helper.from_array(s, f"{base}.scale"), numpy_helper.from_array(np.float32(0), f"{base}.zp"),
                      numpy_helper.from_array(np.float32(8), f"{base}.bits")]
            nodes.append(helper.make_node("Quant", [base, f"{base}.scale", f"{base}.zp", f"{base}.bits"], [f"{base}.q"],
                                          name=f"{base}.Quant", domain=QONNX_DOMAIN, signed=1, narrow=1,
                                          rounding_mode="ROUND"))
        weight = f"{base}.q" if conv.mode in ("binary", "int8") else base
        data = node.input[0]
        if conv.in_bits is not None:
            inits += [numpy_helper.from_array(np.float32(conv.in_scale), f"{base}.in_scale"),
                      numpy_helper.from_array(np.float32(0), f"{base}.in_zp"),
                      numpy_helper.from_array(np.float32(conv.in_bits), f"{base}.in_bits")]
            nodes.append(helper.make_node("Quant", [data, f"{base}.in_scale", f"{base}.in_zp", f"{base}.in_bits"],
                                          [f"{base}.xq"], name=f"{base}.InputQuant", domain=QONNX_DOMAIN, signed=0,
                                          narrow=0, rounding_mode="ROUND"))
            data = f"{base}.xq"
        new = helper.make_node("Conv", [data, weight, *node.input[2:]], list(node.output), name=node.name)
        new.attribute.extend(node.attribute)
        nodes.append(new)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(inits)
    m.opset_import.append(helper.make_opsetid(QONNX_DOMAIN, 1))
    onnx.save(m, path)
    return path
