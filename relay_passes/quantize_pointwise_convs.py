"""QuantizePointwiseConvs: quantize the 1×1 (and depthwise k×k) float conv layers' weights to int8.

Matches float ``sepnet.conv2d`` layers with a 1×1 kernel (the squeeze-and-excitation 1×1 convs included),
and depthwise k×k layers (one input channel per group, any multiplier) when ``depthwise="int8"`` (the
default; docs/lowbit.md says why). Emits ``weight_format="int8"`` with
per-output-channel symmetric scales: ``ws[o] = max|W[o]| / 127``, ``wq = clip(rint(W / ws), -127, 127)``
(an all-zero filter gets ``ws = 0``). Layers named in ``skip`` stay float; layers named in ``force``
(per-layer rules, ``tvm_sepnet.layer_precision``) get int8 weights whatever their kernel size.
"""
from __future__ import annotations

from tvm.relax.expr_functor import mutator

from schedules.int8_conv2d.packing import quantize_weights_int8

from .utils import BindingRewriter, module_pass


@mutator
class _PointwiseQuantizer(BindingRewriter):
    def __init__(self, mod, skip, depthwise, pointwise, force=()):
        super().__init__(mod)
        self.force = set(force)
        self.skip = set(skip)
        self.depthwise = depthwise
        self.pointwise = pointwise

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a = conv.attrs
        wanted = (a.is_pointwise and self.pointwise) or (a.is_depthwise and self.depthwise == "int8") or a.name in self.force
        if a.weight_format != "float" or not wanted or a.name in self.skip:
            return None
        wq, ws = quantize_weights_int8(conv.w)
        return conv.rebuild(w=wq, w_scale=ws, attrs=a.replace(weight_format="int8"))


@module_pass("QuantizePointwiseConvs")
class QuantizePointwiseConvs:
    """Quantize every 1×1 (and, with ``depthwise="int8"``, depthwise) float conv layer's weights to int8,
    per output channel."""

    def __init__(self, skip=(), depthwise: str = "int8", pointwise: bool = True, force=()):
        self.skip = tuple(skip)
        self.force = tuple(force)
        self.depthwise = depthwise
        self.pointwise = pointwise  # False: only depthwise layers (with depthwise="int8")

    def rewrite_module(self, mod):
        return _PointwiseQuantizer(mod, self.skip, self.depthwise, self.pointwise, self.force).run()
