"""ONNX files -> float Relax modules.

1. :func:`read_onnx`: the file and its external data (``model.onnx.data`` beside it, as the dynamo exporter
   writes it) are loaded and checked; a malformed or truncated file, or missing external data, is an
   :class:`InvalidModelError` naming the file.
2. :func:`load_onnx`: with the graph inputs' static shapes, shape subgraphs and computations on constants
   are folded (:mod:`.onnx_fold`); every node left must be of an op in :data:`SUPPORTED_ONNX_OPS`, else
   :class:`UnsupportedOpError` names the node and the op; then TVM's Relax ONNX importer converts the graph
   (:mod:`.onnx_to_relax`), and conv and dense layers are named after their PyTorch modules (:mod:`.onnx_names`).

Tested with opsets 13 to 21 of the default domain (what both ``torch.onnx`` exporters write); TVM's importer
picks each op's converter by the model's opset.
"""
from __future__ import annotations

import os

from ..errors import InvalidModelError, UnsupportedOpError
from .loaded import LoadedModel
from .onnx_fold import fold_static_subgraphs
from .onnx_names import layer_names

#: ONNX ops that the compiler and the reference executor run (default domain)
SUPPORTED_ONNX_OPS = frozenset({
    # convolution and normalization
    "Conv", "BatchNormalization", "LayerNormalization", "Gemm", "MatMul", "Einsum",
    # activations
    "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Erf",
    "Softmax",
    # elementwise
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Sqrt", "Exp", "Neg", "Abs", "Cast",
    # pooling and reductions
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceMin",
    "ReduceSum", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceProd",
    # data movement
    "Concat", "Split", "Slice", "Gather", "Pad", "Resize", "Flatten", "Reshape", "Squeeze", "Unsqueeze",
    "Transpose", "Identity", "Dropout", "Constant", "Expand",
    # ±1 activations (QONNX BipolarQuant is rewritten to these at import; Sign -> Conv: sign layers)
    "Sign", "Less", "Where",
})

#: ops that only compute on shapes or constants: accepted when they fold at import
FOLDED_ONNX_OPS = frozenset({"Shape", "Size", "Range", "ConstantOfShape", "Equal", "Where"})

#: {op: index of an input that must be a constant (after folding) for tvm-sepnet to compile the op}
CONSTANT_ONNX_INPUTS = {"Expand": 1}


def read_onnx(path: str, quantizers: bool = True):
    """Load and check an ONNX file with its external data; raises InvalidModelError. With ``quantizers``
    (default) the trainer's quantizer nodes are imported (:func:`_import_quantizers`; their facts dropped)."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

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
    external = sorted({e.value for t in model.graph.initializer if uses_external_data(t)
                       for e in t.external_data if e.key == "location"})
    if external:
        base = os.path.dirname(os.path.abspath(path))
        for location in external:
            full = os.path.normpath(os.path.join(base, location))
            if os.path.dirname(full) != base and not full.startswith(base + os.sep):
                raise InvalidModelError(f"{path!r}: external data {location!r} lies outside the model's folder")
            if not os.path.isfile(full):
                raise InvalidModelError(
                    f"{path!r} keeps its weights in the external file {location!r}, which is missing: copy it "
                    "beside the model (the dynamo exporter writes model.onnx and model.onnx.data together)")
        try:
            load_external_data_for_model(model, base)
        except Exception as err:  # noqa: BLE001 - a cut or mismatched data file
            raise InvalidModelError(f"{path!r}: cannot read its external data {external}: {err}") from err
    if quantizers:
        model, _ = _import_quantizers(model, path)
    return model


def _import_quantizers(model, path: str):
    """``(model, quantizers)``: trainer's quantizer nodes turned into facts (:mod:`.onnx_quantizers`), then
    QONNX binary activations / weights rewritten to standard ONNX (:mod:`.binary_onnx`), then checked."""
    import onnx

    from .binary_onnx import has_bipolar_quant, rewrite_bipolar_quant
    from .onnx_quantizers import QDQ_OPS, has_quantizers, import_quantizers

    quantizers = {}
    if has_quantizers(model):  # weights may sit behind Slice / Identity nodes of the export: fold first
        model, _ = fold_static_subgraphs(model, onnx_input_shapes(model), keep_ops=QDQ_OPS)
        model, quantizers = import_quantizers(model, os.path.basename(path), layer_names)
    if has_bipolar_quant(model):  # QONNX binary activations / weights -> standard ONNX (binary_onnx.py)
        try:
            rewrite_bipolar_quant(model)
        except UnsupportedOpError:
            raise
        except Exception as err:
            raise InvalidModelError(f"{path!r}: cannot rewrite its BipolarQuant nodes: {err}") from err
    try:
        onnx.checker.check_model(model if fits_in_one_proto(model) else path)
    except Exception as err:
        raise InvalidModelError(f"{path!r} fails the ONNX checker: {err}") from err
    return model, quantizers


def fits_in_one_proto(model) -> bool:
    """Whether ``model`` serializes as one protobuf message (under 2 GiB). Larger models (weights loaded
    from external data) are checked from their file: protobuf refuses to size or serialize them
    (``ByteSize`` raises "Failed to serialize proto")."""
    try:
        return model.ByteSize() < 2**31 - 1
    except Exception:  # noqa: BLE001 - protobuf's EncodeError: over its 2 GiB limit
        return False


def check_ops(model, where: str) -> None:
    """Raise UnsupportedOpError for the first node (after folding) that tvm-sepnet cannot compile."""
    constants = {i.name for i in model.graph.initializer}
    for i, node in enumerate(model.graph.node):
        domain = node.domain or "ai.onnx"
        fixed = CONSTANT_ONNX_INPUTS.get(node.op_type)
        run_time = fixed is not None and len(node.input) > fixed and node.input[fixed] not in constants
        if node.op_type in SUPPORTED_ONNX_OPS and domain == "ai.onnx" and not run_time:
            continue
        label = f"{where}: ONNX node {node.name or f'#{i}'!r}: operator {node.op_type!r} (domain {domain})"
        if (node.op_type in FOLDED_ONNX_OPS or run_time) and domain == "ai.onnx":
            raise UnsupportedOpError(
                f"{label} computes on values known only at run time; tvm-sepnet folds it at import only when "
                "its inputs are constants or static shapes: export the model with static input shapes")
        raise UnsupportedOpError(
            f"{label} is not supported by tvm-sepnet; supported: {', '.join(sorted(SUPPORTED_ONNX_OPS))}. "
            "Export the model without it, or replace it with supported ops")


def onnx_input_shapes(model, batch: int | None = None) -> dict:
    """{input name: shape} of the graph inputs that are not initializers (symbolic dims → 1; a symbolic
    leading dimension → ``batch`` when given). ``batch`` on an input whose leading dimension is fixed
    to another value is an error."""
    inits = {i.name for i in model.graph.initializer}
    shapes = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in dims]
        if batch is not None and dims:
            if dims[0].dim_value > 0 and dims[0].dim_value != batch:
                raise InvalidModelError(f"input {inp.name!r} has a fixed batch dimension {dims[0].dim_value}: it cannot be "
                                        f"compiled for --batch {batch}; export the model with a symbolic batch dimension "
                                        "(dim_param, e.g. torch.onnx.export(..., dynamic_axes={'input': {0: 'N'}}))")
            shape[0] = batch
        shapes[inp.name] = shape
    return shapes


#: the largest graph input tvm-sepnet accepts (elements; 1 GiB of float32): calibration and the reference
#: executor hold several tensors of that size
MAX_INPUT_ELEMENTS = 1 << 28


def check_graph_inputs(model, shapes: dict, where: str) -> None:
    """Raise InvalidModelError for a graph input that is not float32 or whose static shape is absurd
    (more than :data:`MAX_INPUT_ELEMENTS` elements)."""
    import onnx

    inits = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        elem = inp.type.tensor_type.elem_type
        if elem != onnx.TensorProto.FLOAT:
            dtype = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() else elem
            raise InvalidModelError(f"{where}: graph input {inp.name!r} has element type {dtype}; tvm-sepnet compiles "
                                    "models with float32 inputs (export the model with a FLOAT input)")
    for name, shape in shapes.items():
        count = 1
        for d in shape:
            count *= max(int(d), 1)
        if count > MAX_INPUT_ELEMENTS:
            raise InvalidModelError(f"{where}: graph input {name!r} has shape {list(shape)} ({count:,} elements), "
                                    f"more than tvm-sepnet handles ({MAX_INPUT_ELEMENTS:,}); export the model with "
                                    "its real input size")


def has_symbolic_batch(model) -> bool:
    """Whether every graph input (not an initializer) has a symbolic leading dimension."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    return bool(inputs) and all(i.type.tensor_type.shape.dim and i.type.tensor_type.shape.dim[0].dim_value <= 0
                                for i in inputs)


def load_onnx(path: str, shape_dict=None, batch: int | None = None) -> LoadedModel:
    """A :class:`LoadedModel` from an ONNX file (weights bound as constants), its symbolic batch
    dimension set to ``batch`` (default 1); ``any_batch`` when every input's batch is symbolic."""
    from .onnx_to_relax import onnx_to_relax

    name = os.path.basename(path)
    model = read_onnx(path, quantizers=False)
    model, quantizers = _import_quantizers(model, path)
    shapes = shape_dict or onnx_input_shapes(model, batch)
    check_graph_inputs(model, shapes, name)
    model, _ = fold_static_subgraphs(model, shapes)
    check_ops(model, name)
    try:
        mod = onnx_to_relax(model, shapes)
    except Exception as err:
        raise InvalidModelError(f"{path!r}: the Relax ONNX frontend could not convert the model: {err}") from err
    return LoadedModel(name, mod, layer_names(model), any_batch=shape_dict is None and has_symbolic_batch(model),
                       quantizers=quantizers)
