"""Trained low-bit ONNX models: the trainer's quantizers (QONNX ``Quant`` / ``BipolarQuant``, ONNX
``QuantizeLinear`` / ``DequantizeLinear``) become per-layer facts that the compiler honours.

:func:`import_quantizers` runs on the graph after constant folding (weights behind ``Slice`` /
``Identity`` nodes of an export are initializers by then) and before the Relax import:

* a quantizer on a **weight** (an initializer read by a ``Conv``) is evaluated once with the file's own
  numbers (QONNX: ``q = clip(round(W / s + z), qmin, qmax)``, ``W' = (q - z) * s`` in float32 with the
  node's rounding mode; QDQ: ``q = saturate(rint(W / s) + zp)``, ``W' = (q - zp) * s``) and becomes the
  initializer ``W'``; the conv layer gets the fact ``{"weight": "int", "bits", "codes_max"}`` (the
  largest |code| per output channel, so the compiler recovers the trainer's step exactly as
  ``max|W'[o]| / codes_max[o]``, also after batch norm is folded in). ``BipolarQuant`` weights
  (``binary_onnx``) get ``{"weight": "binary"}``.
* a quantizer on an **activation** is removed and its consumers (which must all be convs reading it as
  their data input) get ``{"act": {"kind": "uint" | "int", "bits", "scale"}}``: the compiled layer
  quantizes its input with the trainer's scale, ``clip(rint(x * (1 / s)), lo, hi)`` (docs/numerics.md),
  which is the quantizer's own value ``clip(round(x / s), lo, hi) * s`` except where ``x / s`` and
  ``x * float32(1 / s)`` round to different sides of a .5 tie (1 ulp; measured in docs/training.md).

What the kernels cannot honour exactly is an :class:`UnsupportedOpError` naming the node, its op and the
attribute, never a silent replacement (docs/lowbit.md, "Trained low-bit models"): a zero, negative or
non-finite scale; a bit width outside 1..8; a nonzero zero point; a signed activation quantizer with
the full range (code ``-2^(b-1)``: the int8 kernels are symmetric), unsigned or 8-bit full-range
weights; a rounding mode other than ``ROUND`` on activations; a per-channel activation scale; an
activation quantizer read by anything but a conv's data input; ``Trunc`` (quantized average pooling)
and run-time (non-constant) quantizer parameters.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .binary_onnx import BIPOLAR_DOMAINS

QONNX_DOMAINS = BIPOLAR_DOMAINS
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_ROUNDING = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil, "ROUND_TO_ZERO": np.fix}


def has_quantizers(model) -> bool:
    """Whether the graph has QONNX or QDQ quantizer nodes."""
    return any((n.domain in QONNX_DOMAINS and n.op_type in ("Quant", "BipolarQuant", "Trunc"))
               or (n.domain in ("", "ai.onnx") and n.op_type in QDQ_OPS) for n in model.graph.node)


class _Graph:
    def __init__(self, model, where: str):
        from onnx import numpy_helper

        self.model, self.where = model, where
        self.inits = {i.name: i for i in model.graph.initializer}
        self.values = {}
        self.numpy_helper = numpy_helper
        self.consumers: dict = {}
        for node in model.graph.node:
            for k, name in enumerate(node.input):
                self.consumers.setdefault(name, []).append((node, k))
        self.outputs = {o.name for o in model.graph.output}

    def const(self, name):
        if name not in self.inits:
            return None
        if name not in self.values:
            self.values[name] = self.numpy_helper.to_array(self.inits[name])
        return self.values[name]

    def label(self, node) -> str:
        return f"{self.where}: ONNX node {node.name or node.output[0]!r} ({node.op_type})"

    def fail(self, node, what: str):
        raise UnsupportedOpError(f"{self.label(node)}: {what}")

    def param(self, node, index: int, what: str) -> np.ndarray:
        value = self.const(node.input[index]) if len(node.input) > index and node.input[index] else None
        if value is None:
            self.fail(node, f"its {what} (input {index}, {node.input[index] if len(node.input) > index else '-'!r}) "
                            "is computed at run time; only constant quantizer parameters are supported")
        return value


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check_scale(g: _Graph, node, scale: np.ndarray) -> np.ndarray:
    scale = np.asarray(scale, np.float32)
    if scale.size == 0 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        bad = scale[~(np.isfinite(scale) & (scale > 0))] if scale.size else scale
        g.fail(node, f"attribute/input 'scale' has zero, negative or non-finite values ({bad.ravel()[:4].tolist()}); "
                     "a quantizer's scale must be a positive finite number: fix the trainer's export")
    return scale


def _check_zero_point(g: _Graph, node, zero: np.ndarray, name: str = "zeropt"):
    if np.any(np.asarray(zero, np.float64) != 0):
        g.fail(node, f"input '{name}' is {np.asarray(zero).ravel()[:4].tolist()}: nonzero zero points are not "
                     "supported (tvm-sepnet's integer kernels take symmetric signed or unsigned codes with zero "
                     "point 0); retrain with a zero-point-free quantizer")


def _weight_fact(g: _Graph, node, codes: np.ndarray, scale: np.ndarray, bits: int, signed: bool, narrow: bool):
    """The fact for the convs reading a quantized weight (codes OIHW)."""
    if not signed:
        g.fail(node, "attribute 'signed' is 0 on a weight: unsigned weight codes have no int8 kernel; use signed "
                     "(narrow-range) weight quantizers")
    if bits == 8 and not narrow and np.any(codes <= -128):
        g.fail(node, "8-bit weights with the full range (attribute 'narrow' = 0) use the code -128, which the "
                     "symmetric int8 kernels (codes -127..127) cannot hold; export with narrow_range=True")
    if codes.ndim != 4 or scale.size not in (1, codes.shape[0]) or (scale.size > 1 and scale.shape[0] != codes.shape[0]):
        g.fail(node, f"scale of shape {scale.shape} on a weight of shape {codes.shape}: only per-tensor and per-"
                     "output-channel (axis 0) weight scales are supported")
    codes_max = np.abs(codes.astype(np.int64)).reshape(codes.shape[0], -1).max(axis=1)
    return {"weight": "int", "bits": int(bits), "codes_max": [int(v) for v in codes_max]}


def _conv_consumers(g: _Graph, node, input_index: int, what: str) -> list:
    users = g.consumers.get(node.output[0], [])
    if node.output[0] in g.outputs or not users:
        g.fail(node, f"its output is a graph output or unused; a {what} quantizer must feed convs")
    for user, k in users:
        if user.op_type != "Conv" or k != input_index:
            g.fail(node, f"this {what} quantizer feeds a {user.op_type} node ({user.name or user.output[0]!r}, input "
                         f"{k}); tvm-sepnet honours {what} quantizers only on the "
                         f"{'data' if input_index == 0 else 'weight'} input of Conv nodes (docs/lowbit.md)")
    return [u for u, _ in users]


def _act_fact(g: _Graph, node, scale, bits: int, signed: bool, narrow: bool, rounding: str = "ROUND") -> dict:
    if scale.size != 1:
        g.fail(node, f"per-channel activation scale {scale.shape}: the kernels take one scale per layer input; "
                     "use a per-tensor activation quantizer")
    if rounding not in ("ROUND", "HALF_EVEN"):
        g.fail(node, f"attribute 'rounding_mode' = {rounding!r}: activations are rounded half to even (ROUND) by "
                     "the kernels; retrain with ROUND")
    if signed and not narrow:
        g.fail(node, "signed activations with the full range (attribute 'narrow' = 0, code -2^(b-1)): the "
                     "kernels' signed activation codes are symmetric (-(2^(b-1)-1)..2^(b-1)-1); use an unsigned "
                     "quantizer after ReLU, or narrow_range=True")
    return {"kind": "int" if signed else "uint", "bits": int(bits), "scale": float(scale.reshape(-1)[0])}


def _bits(g: _Graph, node, value) -> int:
    b = np.asarray(value, np.float64).reshape(-1)
    if b.size != 1 or b[0] != np.round(b[0]) or not 1 <= b[0] <= 8:
        g.fail(node, f"input 'bitwidth' is {b[:4].tolist()}: tvm-sepnet's kernels take integer bit widths 1..8")
    return int(b[0])


def _quant(g: _Graph, node, facts: dict, drop: set, bypass: dict, new_inits: list):
    """QONNX ``Quant(x, scale, zeropt, bitwidth)``."""
    a = _attrs(node)
    signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
    rounding = a.get("rounding_mode", b"ROUND")
    rounding = rounding.decode() if isinstance(rounding, bytes) else str(rounding)
    scale = _check_scale(g, node, g.param(node, 1, "scale"))
    zero = g.param(node, 2, "zero point")
    _check_zero_point(g, node, zero)
    bits = _bits(g, node, g.param(node, 3, "bit width"))
    if signed:
        lo, hi = -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2 ** bits - 1 - int(narrow)
    w = g.const(node.input[0])
    drop.add(id(node))
    if w is not None:
        if rounding not in _ROUNDING:
            g.fail(node, f"attribute 'rounding_mode' = {rounding!r} is not one of {sorted(_ROUNDING)}")
        w = w.astype(np.float32)
        codes = np.clip(_ROUNDING[rounding](w / scale), lo, hi)
        value = (codes * scale).astype(np.float32)
        fact = _weight_fact(g, node, codes, scale, bits, signed, narrow)
        for conv in _conv_consumers(g, node, 1, "weight"):
            facts.setdefault(conv.output[0], {}).update(fact)
        new_inits.append(g.numpy_helper.from_array(value, node.output[0]))
        return
    fact = _act_fact(g, node, scale, bits, signed, narrow, rounding)
    for conv in _conv_consumers(g, node, 0, "activation"):
        facts.setdefault(conv.output[0], {})["act"] = fact
    bypass[node.output[0]] = node.input[0]


def _qdq(g: _Graph, node, facts: dict, drop: set, bypass: dict, new_inits: list):
    """``DequantizeLinear`` of an int8 / uint8 initializer or of a ``QuantizeLinear``."""
    a = _attrs(node)
    scale = _check_scale(g, node, g.param(node, 1, "scale"))
    zero = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
    if zero is None:
        g.fail(node, "its zero point is computed at run time; only constant quantizer parameters are supported")
    _check_zero_point(g, node, zero, "zero_point")
    src = node.input[0]
    codes = g.const(src)
    q_node = None
    if codes is None:
        producers = [n for n in g.model.graph.node if src in n.output]
        q_node = producers[0] if producers else None
        if q_node is None or q_node.op_type != "QuantizeLinear":
            g.fail(node, "DequantizeLinear must read a constant or a QuantizeLinear")
        q_scale = _check_scale(g, q_node, g.param(q_node, 1, "scale"))
        q_zero = g.const(q_node.input[2]) if len(q_node.input) > 2 and q_node.input[2] else zero
        if q_zero is None or q_scale.shape != scale.shape or np.any(q_scale != scale) or \
                np.asarray(q_zero).dtype != np.asarray(zero).dtype or np.any(np.asarray(q_zero) != np.asarray(zero)):
            g.fail(node, f"its scale / zero point differ from those of QuantizeLinear {q_node.name!r}: mismatched "
                         "QDQ pairs are not supported")
        if len(g.consumers.get(src, [])) != 1:
            g.fail(q_node, "its codes are read by more than one node; only QuantizeLinear -> DequantizeLinear pairs "
                           "are supported")
        drop.add(id(q_node))
    dtype = np.asarray(zero).dtype
    if dtype not in (np.int8, np.uint8):
        g.fail(node, f"zero point type {dtype}: only int8 and uint8 QDQ are supported")
    signed = dtype == np.int8
    axis = int(a.get("axis", 1))
    drop.add(id(node))
    w = g.const(q_node.input[0]) if q_node is not None else None
    if codes is not None or w is not None:  # a weight
        if codes is None:
            shape = [1] * w.ndim
            if scale.size > 1:
                shape[axis] = scale.size
            info = np.iinfo(dtype)
            codes = np.clip(np.rint(w.astype(np.float32) / scale.reshape(shape)), info.min, info.max)
        codes = codes.astype(np.float32)
        if scale.size > 1 and axis != 0:
            g.fail(node, f"attribute 'axis' = {axis} on a weight: only per-output-channel (axis 0) scales are "
                         "supported")
        shape = [1] * codes.ndim
        if scale.size > 1:
            shape[0] = scale.size
        value = (codes * scale.reshape(shape)).astype(np.float32)
        fact = _weight_fact(g, node, codes, scale.reshape(-1), 8, signed, False)
        for conv in _conv_consumers(g, node, 1, "weight"):
            facts.setdefault(conv.output[0], {}).update(fact)
        new_inits.append(g.numpy_helper.from_array(value, node.output[0]))
        return
    fact = _act_fact(g, node, scale, 8, signed, False)
    for conv in _conv_consumers(g, node, 0, "activation"):
        facts.setdefault(conv.output[0], {})["act"] = fact
    bypass[node.output[0]] = q_node.input[0]


def import_quantizers(model, where: str, layer_names_of) -> tuple:
    """``(model, quantizers)``: the model with its quantizer nodes turned into float weights and bypassed
    activation quantizers (module docstring), and ``{layer name: fact}`` with the names
    ``layer_names_of(model)`` gives to its conv and dense nodes."""
    from onnx import helper

    g = _Graph(model, where)
    facts, drop, bypass, new_inits = {}, set(), {}, []
    for node in model.graph.node:
        if node.domain in QONNX_DOMAINS and node.op_type == "Trunc":
            g.fail(node, "Trunc (quantized average pooling) is not supported: export the pooling in float")
        if node.domain in QONNX_DOMAINS and node.op_type == "Quant":
            _quant(g, node, facts, drop, bypass, new_inits)
        elif node.domain in QONNX_DOMAINS and node.op_type == "BipolarQuant" and g.const(node.input[0]) is not None:
            _check_scale(g, node, g.param(node, 1, "scale"))
            for conv in _conv_consumers(g, node, 1, "weight"):
                facts.setdefault(conv.output[0], {})["weight"] = "binary"
        elif node.domain in ("", "ai.onnx") and node.op_type == "DequantizeLinear":
            _qdq(g, node, facts, drop, bypass, new_inits)
        elif node.domain in ("", "ai.onnx") and node.op_type == "QuantizeLinear":
            users = g.consumers.get(node.output[0], [])
            if not users or any(u.op_type != "DequantizeLinear" for u, _ in users):
                g.fail(node, "QuantizeLinear must be followed by DequantizeLinear (integer tensors between other "
                             "ops are not supported)")
    kept = []
    for node in model.graph.node:
        if id(node) in drop:
            continue
        if any(name in bypass for name in node.input):
            renamed = helper.make_node(node.op_type, [bypass.get(n, n) for n in node.input], list(node.output),
                                       name=node.name, domain=node.domain)
            renamed.attribute.extend(node.attribute)
            node = renamed
        kept.append(node)
    used = {n for node in kept for n in node.input} | {o.name for o in model.graph.output}
    stale = [i for i in model.graph.input if i.name in g.inits and i.name not in used]  # exporters list weights
    for inp in stale:
        model.graph.input.remove(inp)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    inits = [i for i in model.graph.initializer if i.name in used] + [i for i in new_inits if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    names = layer_names_of(model)
    layer_nodes = [n for n in model.graph.node if n.op_type == "Conv" or
                   (n.op_type in ("Gemm", "MatMul") and len(n.input) > 1 and n.input[1] in
                    {i.name for i in model.graph.initializer})]
    quantizers = {name: facts[node.output[0]] for name, node in zip(names, layer_nodes) if node.output[0] in facts}
    for name, fact in quantizers.items():
        if fact.get("weight") is None and "act" in fact:
            raise UnsupportedOpError(f"{where}: layer {name!r} has an activation quantizer but float weights; "
                                     "tvm-sepnet's integer kernels need quantized (binary or int) weights too")
    return model, quantizers
