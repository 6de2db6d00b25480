"""QuantizeActivations: give every low-bit conv layer an activation quantizer from calibration ranges.

Matches ``sepnet.conv2d`` layers and sets their ``act`` attribute (docs/numerics.md):

* binary layers: unsigned ``act_bits``-bit, ``scale = hi / (2^A - 1)`` (negative inputs clip to 0);
* int8 layers: 8 bits, unsigned (``scale = hi / 255``) when the calibrated range has no negative
  value, else signed symmetric (``scale = max(|lo|, |hi|) / 127``);
* float layers: ``accumulate="float64"`` (deterministic, order-free sums), since their outputs feed
  quantizers.

``layer_bits`` ({layer: bits}, per-layer rules) overrides ``act_bits`` for the binary layers it names.
``ranges`` maps a layer name to the (lo, hi) range of that layer's input; a layer missing from it
gets the no-data default range ``default_range`` (stated in the README). The scale and its float32
reciprocal ``inv_scale`` are both stored in the attribute.
"""
from __future__ import annotations

import numpy as np
from tvm.relax.expr_functor import mutator

from schedules.common import act_range

from .utils import BindingRewriter, module_pass

DEFAULT_RANGE = (0.0, 4.0)


def act_quantizer(kind: str, bits: int, lo: float, hi: float) -> dict:
    """The ``act`` attribute for a quantizer of ``bits`` bits over the range [lo, hi]."""
    qmax = act_range(kind, bits)[1]
    if kind == "uint":
        scale = np.float32(max(float(hi), 0.0) / qmax)
    else:
        scale = np.float32(max(abs(float(lo)), abs(float(hi))) / qmax)
    if not np.isfinite(scale) or scale <= 0:
        scale = np.float32(1.0 / qmax)  # a constant-zero input: any positive step represents it
    inv = np.float32(1.0) / scale
    return {"kind": kind, "bits": int(bits), "scale": float(scale), "inv_scale": float(inv)}


@mutator
class _ActQuantizer(BindingRewriter):
    def __init__(self, mod, ranges, act_bits, pointwise_bits, default_range, layer_bits):
        super().__init__(mod)
        self.layer_bits = layer_bits
        self.ranges = ranges
        self.act_bits = act_bits
        self.pointwise_bits = pointwise_bits
        self.default_range = default_range

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a = conv.attrs
        if a.is_sign:  # ±1 activations need no range
            return None
        lo, hi = self.ranges.get(a.name, self.default_range)
        if a.weight_format == "binary":
            act = act_quantizer("uint", self.layer_bits.get(a.name, self.act_bits), lo, hi)
        elif a.weight_format == "int8":
            act = act_quantizer("uint" if lo >= 0 else "int", self.pointwise_bits, lo, hi)
        else:
            return conv.rebuild(attrs=a.replace(accumulate="float64"))
        return conv.rebuild(attrs=a.replace(act=act))


@module_pass("QuantizeActivations")
class QuantizeActivations:
    """Quantize the input activations of binary (A-bit unsigned) and int8 (8-bit) conv layers."""

    def __init__(self, ranges=None, act_bits: int = 4, pointwise_bits: int = 8, default_range=DEFAULT_RANGE,
                 layer_bits=None):
        if not 1 <= int(act_bits) <= 8:
            raise ValueError(f"act_bits must be in 1..8, got {act_bits}")
        self.ranges = dict(ranges or {})
        self.act_bits = int(act_bits)
        self.pointwise_bits = int(pointwise_bits)
        self.default_range = tuple(default_range)
        self.layer_bits = {k: int(v) for k, v in (layer_bits or {}).items()}
        bad = {k: v for k, v in self.layer_bits.items() if not 1 <= v <= 8}
        if bad:
            raise ValueError(f"layer_bits must be in 1..8, got {bad}")

    def rewrite_module(self, mod):
        return _ActQuantizer(mod, self.ranges, self.act_bits, self.pointwise_bits, self.default_range,
                             self.layer_bits).run()
