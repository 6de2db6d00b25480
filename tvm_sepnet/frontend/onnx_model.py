"""ONNX files -> float Relax modules.

ONNX goes through ``tvm.relax.frontend.onnx``; before that the file is validated so that a bad file
gets a clear error: a malformed or truncated file (InvalidModelError), an operator outside
:data:`SUPPORTED_ONNX_OPS` (UnsupportedOpError naming the op type and the node).
"""
from __future__ import annotations

import os

from ..errors import InvalidModelError, UnsupportedOpError
from .loaded import LoadedModel

SUPPORTED_ONNX_OPS = frozenset({
    "Conv", "BatchNormalization", "Relu", "Add", "Sub", "Mul", "Div", "Concat", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Gemm", "MatMul", "Reshape", "Softmax", "Clip", "Identity", "Dropout",
    "Sigmoid", "Squeeze", "Unsqueeze", "Transpose", "Constant", "Sign", "Less", "Where",
})

def read_onnx(path: str):
    """Load and validate an ONNX file; raises InvalidModelError / UnsupportedOpError."""
    import onnx

    if not os.path.isfile(path):
        raise InvalidModelError(f"ONNX file {path!r} does not exist")
    with open(path, "rb") as f:
        data = f.read()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf DecodeError and friends
        raise InvalidModelError(f"{path!r} is not a valid ONNX model (malformed or truncated: {err})") from err
    if not model.graph.node:
        raise InvalidModelError(f"{path!r} is not a valid ONNX model (malformed or truncated: no graph nodes)")
    from .binary_onnx import has_bipolar_quant, rewrite_bipolar_quant

    if has_bipolar_quant(model):  # QONNX binary activations / weights -> standard ONNX (binary_onnx.py)
        try:
            rewrite_bipolar_quant(model)
        except UnsupportedOpError:
            raise
        except Exception as err:
            raise InvalidModelError(f"{path!r}: cannot rewrite its BipolarQuant nodes: {err}") from err
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise InvalidModelError(f"{path!r} fails the ONNX checker: {err}") from err
    for i, node in enumerate(model.graph.node):
        domain = node.domain or "ai.onnx"
        if node.op_type not in SUPPORTED_ONNX_OPS or domain not in ("ai.onnx", ""):
            raise UnsupportedOpError(
                f"ONNX node {node.name or f'#{i}'!r}: operator {node.op_type!r} (domain {domain}) is not "
                f"supported by tvm-sepnet; supported: {', '.join(sorted(SUPPORTED_ONNX_OPS))}. "
                "Export the model without it, or replace it with supported ops")
    return model


def onnx_input_shapes(model) -> dict:
    """{input name: shape} of the graph inputs that are not initializers (symbolic dims → 1)."""
    inits = {i.name for i in model.graph.initializer}
    shapes = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        shapes[inp.name] = [d.dim_value if d.dim_value > 0 else 1 for d in dims]
    return shapes


def load_onnx(path: str, shape_dict=None) -> LoadedModel:
    """A :class:`LoadedModel` from an ONNX file (weights bound as constants)."""
    from tvm.relax.frontend.onnx import from_onnx

    model = read_onnx(path)
    shapes = shape_dict or onnx_input_shapes(model)
    try:
        mod = from_onnx(model, shape_dict=shapes, keep_params_in_input=False)
    except Exception as err:
        raise InvalidModelError(f"{path!r}: the Relax ONNX frontend could not convert the model: {err}") from err
    names = [n.name or f"conv{i}" for i, n in enumerate(n for n in model.graph.node if n.op_type == "Conv")]
    return LoadedModel(os.path.basename(path), mod, names)
