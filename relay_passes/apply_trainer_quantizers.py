"""ApplyTrainerQuantizers: give every conv layer the weights and activation quantizer its trainer chose.

Used instead of ``BinarizePatternConvs`` / ``QuantizePointwiseConvs`` / calibration +
``QuantizeActivations`` when the model carries the trainer's quantizers (``LoadedModel.quantizers``,
from ``tvm_sepnet.frontend.onnx_quantizers``). Matches float ``sepnet.conv2d`` layers (after batch-norm
folding) by name; ``quantizers[name]`` says:

* ``"weight": "binary"``: the weights are ``±alpha[o]`` (the trainer's ``BipolarQuant``, batch norm
  folded in: still one magnitude per output channel); emitted as ``weight_format="binary"`` with
  ``B = sign(W)`` and ``w_scale = alpha[o] = max|W[o]|`` — the trainer's alpha, not mean|W| of a
  re-binarization. Any kernel size (1×1 binary layers too).
* ``"weight": "int"`` with ``codes_max`` (largest |code| per output channel): ``ws[o] =
  max|W[o]| / codes_max[o]``, ``wq = rint(W / ws)``: the trainer's integer codes and step (times the
  folded batch-norm factor); ``weight_format="int8"``.
* ``"act": {"kind", "bits", "scale"}``: the layer's input quantizer (docs/numerics.md ``quantize``)
  with the trainer's scale; ``inv_scale = float32(1 / scale)``.

Checks (each an ``UnsupportedOpError`` naming the layer): binary weights whose magnitudes differ within
an output channel, int weights that do not sit on the trainer's grid (``|W / ws - rint(W / ws)| >
1e-3``), binary weights read through a signed activation quantizer (the bitserial kernels take unsigned
codes). Layers without facts stay float with float activations (``accumulate="float64"``), as the
trainer computed them.
"""
from __future__ import annotations

import numpy as np
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d.packing import pack_weights
from schedules.common import pack_bits_for
from tvm_sepnet.errors import UnsupportedOpError

from .utils import BindingRewriter, module_pass

GRID_TOLERANCE = 1e-3


def trainer_binary(w: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(signs int8, alpha float32 per output channel) of ±alpha[o] weights."""
    mag = np.abs(w.astype(np.float32)).reshape(w.shape[0], -1)
    alpha = mag.max(axis=1)
    if np.any(mag.min(axis=1) != alpha):
        o = int(np.argmax(alpha - mag.min(axis=1)))
        raise UnsupportedOpError(f"layer {name!r}: marked binary by its trainer, but output channel {o} has weights of "
                                 f"magnitudes {mag[o].min()} .. {alpha[o]}; binary weights are ±alpha per channel")
    return np.where(w >= 0, 1, -1).astype(np.int8), alpha.astype(np.float32)


def trainer_int(w: np.ndarray, codes_max, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(wq int8, ws float32 per output channel) of weights on the trainer's integer grid."""
    w = w.astype(np.float32)
    cmax = np.asarray(codes_max, np.float32)
    ws = (np.abs(w).reshape(w.shape[0], -1).max(axis=1) / np.where(cmax > 0, cmax, 1)).astype(np.float32)
    div = ws.reshape(-1, 1, 1, 1)
    ratio = np.divide(w, div, out=np.zeros_like(w), where=div > 0)
    wq = np.rint(ratio)
    off = float(np.abs(ratio - wq).max()) if w.size else 0.0
    if off > GRID_TOLERANCE or np.abs(wq).max(initial=0) > 127:
        raise UnsupportedOpError(f"layer {name!r}: weights are off the trainer's integer grid by {off:.3g} steps "
                                 f"(largest code {np.abs(wq).max(initial=0):.0f}); the int8 kernels need codes -127..127")
    return wq.astype(np.int8), ws


@mutator
class _Applier(BindingRewriter):
    def __init__(self, mod, quantizers):
        super().__init__(mod)
        self.quantizers = quantizers

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a = conv.attrs
        if a.weight_format != "float" or a.is_sign:
            return None
        fact = self.quantizers.get(a.name)
        if not fact:
            return conv.rebuild(attrs=a.replace(accumulate="float64"))
        changes = {}
        act = fact.get("act")
        if fact.get("weight") == "binary":
            if act is not None and act["kind"] != "uint":
                raise UnsupportedOpError(f"layer {a.name!r}: binary weights with a signed activation quantizer have no "
                                         "kernel (the bitserial kernels take unsigned codes); quantize its input "
                                         "unsigned (after ReLU)")
            signs, alpha = trainer_binary(conv.w, a.name)
            changes = {"w": pack_weights(signs, pack_bits_for(a.channels_per_group)), "w_scale": alpha,
                       "attrs": a.replace(weight_format="binary")}
        elif fact.get("weight") == "int":
            wq, ws = trainer_int(conv.w, fact["codes_max"], a.name)
            changes = {"w": wq, "w_scale": ws, "attrs": a.replace(weight_format="int8")}
        if act is not None:
            scale = np.float32(act["scale"])
            changes["attrs"] = changes.get("attrs", a).replace(act={
                "kind": act["kind"], "bits": int(act["bits"]), "scale": float(scale),
                "inv_scale": float(np.float32(1.0) / scale)})
        return conv.rebuild(**changes)


@module_pass("ApplyTrainerQuantizers")
class ApplyTrainerQuantizers:
    """Quantize each conv layer's weights and input as its trainer did (module docstring)."""

    def __init__(self, quantizers: dict):
        self.quantizers = dict(quantizers)

    def rewrite_module(self, mod):
        return _Applier(mod, self.quantizers).run()
