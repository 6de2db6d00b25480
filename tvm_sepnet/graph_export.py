"""Export a (not yet lowered) Relax ``main`` function to the reference executor's graph format.

The format is plain JSON plus an ``.npz`` of constants, so :mod:`tvm_sepnet.reference` runs it with
numpy alone::

    {"inputs": [{"name", "shape", "dtype"}], "outputs": [name],
     "nodes": [{"name", "op", "args": [{"var": name} | {"const": key} | {"tuple": [...]}], "attrs": {}}]}

Ops keep their Relax names without the ``relax.`` prefix (``nn.conv2d``, ``add``, ...) and
``sepnet.conv2d`` keeps its JSON attributes. An op the reference cannot run raises
:class:`UnsupportedOpError` naming it and the binding.
"""
from __future__ import annotations

import json

import numpy as np
import tvm
from tvm import relax

from .errors import UnsupportedOpError
from .ops import CONV_OP, ConvAttrs

# relax op -> attribute names copied into the graph (converted to python values); every op has its numpy
# twin in tvm_sepnet.reference_ops.GRAPH_OPS
_OP_ATTRS = {
    "nn.relu": (), "negative": (), "abs": (), "sqrt": (), "sigmoid": (), "tanh": (), "exp": (), "erf": (),
    "nn.gelu": (), "nn.gelu_tanh": (), "clip": (),
    "add": (), "subtract": (), "multiply": (), "divide": (), "maximum": (), "minimum": (), "power": (),
    "nn.leakyrelu": ("alpha",),
    "nn.prelu": ("axis",),
    "nn.max_pool2d": ("pool_size", "strides", "padding", "dilation", "ceil_mode", "layout"),
    "nn.avg_pool2d": ("pool_size", "strides", "padding", "dilation", "ceil_mode", "count_include_pad", "layout"),
    "nn.adaptive_avg_pool2d": ("output_size", "layout"),
    "mean": ("axis", "keepdims"), "sum": ("axis", "keepdims"), "prod": ("axis", "keepdims"),
    "max": ("axis", "keepdims"), "min": ("axis", "keepdims"),
    "reshape": (),
    "permute_dims": ("axes",),
    "concat": ("axis",),
    "split": ("indices_or_sections", "axis"),
    "strided_slice": (),
    "take": ("axis",),
    "nn.pad": ("pad_width", "pad_mode", "pad_value"),
    "matmul": (), "einsum": ("subscripts",),
    "nn.softmax": ("axis",),
    "nn.batch_norm": ("axis", "epsilon", "center", "scale", "training"),
    "nn.layer_norm": ("axes", "epsilon", "center", "scale"),
    "image.resize2d": ("roi", "layout", "method", "coordinate_transformation_mode", "rounding_method",
                       "cubic_alpha", "cubic_exclude", "extrapolation_value"),
    "astype": ("dtype",),
    "flatten": (),
    "squeeze": ("axis",),
    "expand_dims": ("axis",),
    "broadcast_to": (),
    "less": (),
    "sign": (),
    "where": (),
}


def _py(value):
    """Convert a TVM attribute value into plain python."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tvm.tirx.IntImm):
        return int(value.value)
    if isinstance(value, tvm.tirx.FloatImm):
        return float(value.value)
    if hasattr(value, "__len__") and not isinstance(value, str):
        return [_py(v) for v in value]
    return str(value)


class _Exporter:
    def __init__(self):
        self.consts: dict[str, np.ndarray] = {}
        self.nodes: list[dict] = []

    def arg(self, expr, where: str):
        if isinstance(expr, relax.Var):
            return {"var": expr.name}
        if isinstance(expr, (tvm.tirx.IntImm, tvm.tirx.FloatImm)):  # a PrimValue argument
            return {"value": _py(expr)}
        if isinstance(expr, tvm.ir.expr.Constant):
            key = f"c{len(self.consts)}"
            self.consts[key] = expr.value.numpy()
            return {"const": key}
        if isinstance(expr, relax.Tuple):
            return {"tuple": [self.arg(f, where) for f in expr.fields]}
        if isinstance(expr, relax.ShapeExpr):
            return {"shape": [int(v) for v in expr.values]}
        raise UnsupportedOpError(f"an argument of kind {type(expr).__name__} is not supported by the reference executor")

    def binding(self, var, value):
        start = len(self.nodes)
        self._binding(var, value)
        if len(self.nodes) > start and isinstance(var.ty, relax.TensorType) and var.ty.shape is not None:
            self.nodes[-1]["shape"] = [int(v) for v in var.ty.shape]

    def _binding(self, var, value):
        name = var.name
        if isinstance(value, relax.TupleGetItem):
            self.nodes.append({"name": name, "op": "tuple_get_item",
                               "args": [self.arg(value.tuple_value, name)], "attrs": {"index": int(value.index)}})
            return
        if isinstance(value, relax.Var):
            self.nodes.append({"name": name, "op": "identity", "args": [self.arg(value, name)], "attrs": {}})
            return
        if not isinstance(value, relax.Call):
            raise UnsupportedOpError(f"a value of kind {type(value).__name__} is not supported by the reference executor")
        op = getattr(value.op, "name", None)
        if op == "relax.call_pure_packed" and value.args[0].global_symbol == CONV_OP:
            attrs = json.loads(str(value.args[5].value))
            ConvAttrs.from_json(json.dumps(attrs))  # validates
            operands = list(value.args[1:5]) + list(value.args[6:])  # x, w, w_scale, bias[, residual]
            self.nodes.append({"name": name, "op": CONV_OP,
                               "args": [self.arg(a, name) for a in operands], "attrs": attrs})
            return
        short = op[len("relax."):] if op and op.startswith("relax.") else op
        if short not in _OP_ATTRS:
            raise UnsupportedOpError(
                f"operator {op!r} is not supported by tvm-sepnet's reference executor (it runs "
                f"{', '.join(sorted(_OP_ATTRS))} and sepnet.conv2d); the model needs an op tvm-sepnet cannot "
                "compile yet")
        attrs = {k: _py(getattr(value.attrs, k)) for k in _OP_ATTRS[short]} if value.attrs is not None else {}
        self.nodes.append({"name": name, "op": short, "args": [self.arg(a, name) for a in value.args], "attrs": attrs})


def export_graph(mod: tvm.IRModule, func_name: str = "main") -> tuple[dict, dict[str, np.ndarray]]:
    """(graph dict, constants) of ``mod[func_name]``, a function of dataflow bindings."""
    func = mod[func_name]
    ex = _Exporter()
    inputs = [{"name": p.name, "shape": [int(v) for v in p.ty.shape], "dtype": str(p.ty.dtype)} for p in func.params]
    for block in func.body.blocks:
        for b in block.bindings:
            ex.binding(b.var, b.value)
    out = func.body.body
    outputs = [f.name for f in out.fields] if isinstance(out, relax.Tuple) else [out.name]
    return {"inputs": inputs, "outputs": outputs, "nodes": ex.nodes}, ex.consts


def save_graph(graph: dict, consts: dict, json_path: str, npz_path: str) -> None:
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(graph, f, indent=1)
    np.savez(npz_path, **consts)
