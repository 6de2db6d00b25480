"""ONNX -> Relax with TVM's importer (``tvm.relax.frontend.onnx``), two converters replaced.

TVM 0.27 converts ``Clip`` (opset >= 11) and ``Pad`` into ``call_tir`` of TE functions (``topi.maximum`` /
``topi.minimum`` with a NaN guard on the bounds, ``topi.nn.pad``): opaque to our passes and to the reference
executor. With constant bounds and pads they are single Relax ops instead:

* ``Clip(x, lo, hi)`` -> ``relax.clip(x, lo, hi)``: ``min(max(x, lo), hi)``; a missing or NaN bound is
  unbounded (ONNX / onnxruntime semantics);
* ``Pad(x, pads, value[, axes])`` with non-negative constant pads -> ``relax.nn.pad`` (modes constant,
  reflect, edge -> replicate, wrap -> circular);
* ``Dropout(x)`` (inference, no mask output) -> ``x`` (TVM emits ``relax.nn.dropout``, a training op);
* ``Max`` / ``Min`` -> a chain of ``relax.maximum`` / ``relax.minimum`` (TVM stacks broadcast copies of the
  inputs and reduces them);
* ``Einsum(equation)`` -> ``relax.einsum`` (TVM emits ``call_tir`` of ``topi.einsum``); the equation's spaces
  are dropped (torch writes ``"bghid,bghjd->bghij"``, ONNX allows blanks around the terms).

Anything else (dynamic bounds or pads, negative pads) goes to TVM's own converter.
"""
from __future__ import annotations

import math

import tvm
from tvm import relax
from tvm.relax.frontend.onnx.onnx_frontend import ONNXGraphImporter

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _scalar(expr):
    """The float value of a constant scalar (or 1-element) input, None if it is absent, else ``...``."""
    if expr is None:
        return None
    if isinstance(expr, tvm.ir.expr.Constant):
        value = expr.value.numpy()
        if value.size == 1:
            return float(value.reshape(()))
    return ...


def _clip(inputs, attrs: dict, opset: int):
    x = inputs[0]
    if opset < 11:
        lo, hi = attrs.get("min"), attrs.get("max")
    else:
        lo = _scalar(inputs[1] if len(inputs) > 1 else None)
        hi = _scalar(inputs[2] if len(inputs) > 2 else None)
    if lo is ... or hi is ... or "float" not in str(x.ty.dtype):
        return None
    lo = -math.inf if lo is None or math.isnan(lo) else float(lo)
    hi = math.inf if hi is None or math.isnan(hi) else float(hi)
    return relax.op.clip(x, lo, hi)


def _pad(inputs, attrs: dict, opset: int):
    x = inputs[0]
    rank = len(x.ty.shape)
    mode = attrs.get("mode", b"constant")
    mode = _PAD_MODES.get(mode.decode() if isinstance(mode, bytes) else mode)
    if opset < 11:
        pads, value, axes = attrs.get("pads"), attrs.get("value", 0.0), None
    else:
        get = lambda i: inputs[i] if len(inputs) > i else None
        if not isinstance(get(1), tvm.ir.expr.Constant):
            return None
        pads = get(1).value.numpy().tolist()
        value = _scalar(get(2))
        axes = get(3)
        if value is ... or (axes is not None and not isinstance(axes, tvm.ir.expr.Constant)):
            return None
        value = 0.0 if value is None else value
        axes = None if axes is None else [int(a) % rank for a in axes.value.numpy().tolist()]
    if mode is None or pads is None or min(pads) < 0:
        return None
    axes = list(range(rank)) if axes is None else axes
    half = len(pads) // 2
    width = [0] * (2 * rank)
    for i, axis in enumerate(axes):
        width[2 * axis], width[2 * axis + 1] = int(pads[i]), int(pads[half + i])
    return relax.op.nn.pad(x, width, pad_mode=mode, pad_value=float(value))


def _dropout(inputs, attrs: dict, opset: int):
    """Inference-mode dropout without its mask output: the identity."""
    outputs = attrs.get("tvm_custom", {}).get("num_outputs", 1)
    training = len(inputs) > 2 and inputs[2] is not None
    return inputs[0] if outputs == 1 and not training else None


def _elementwise(binary):
    """``Max`` / ``Min`` of any number of inputs as a chain of broadcasting binary ops."""
    def convert(inputs, attrs: dict, opset: int):
        out = inputs[0]
        for other in inputs[1:]:
            out = binary(out, other)
        return out
    return convert


def _einsum(inputs, attrs: dict, opset: int):
    equation = attrs.get("equation", b"")
    equation = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(" ", "")
    return relax.op.einsum(list(inputs), equation)


_REPLACED = {"Einsum": _einsum, "Clip": _clip, "Pad": _pad, "Dropout": _dropout, "Max": _elementwise(relax.op.maximum),
             "Min": _elementwise(relax.op.minimum)}


class _Importer(ONNXGraphImporter):
    """TVM's importer; the converters of ``_REPLACED`` go first and fall back to TVM's by returning None."""

    def _convert_operator(self, op_name, inputs, attrs, opset):
        convert = _REPLACED.get(op_name)
        if convert is not None:
            expr = convert(inputs, attrs, opset)
            if expr is not None:
                return self.bb.normalize(expr)
        return super()._convert_operator(op_name, inputs, attrs, opset)


def default_opset(model) -> int:
    """The model's ``ai.onnx`` opset version."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def onnx_to_relax(model, shape_dict: dict) -> tvm.IRModule:
    """A Relax module (``main`` over the graph inputs, weights bound as constants) of an ONNX model, as
    ``tvm.relax.frontend.onnx.from_onnx`` would give it with the replacements above."""
    importer = _Importer(dict(shape_dict), "float32", keep_params_in_input=False, sanitize=True)
    return importer.from_onnx(model.graph, default_opset(model))


__all__ = ["default_opset", "onnx_to_relax"]
