"""BinarizePatternConvs: binarize the k×k (k > 1) float conv layers into ±1 "patterns".

Matches float ``sepnet.conv2d`` layers with a kernel larger than 1×1. Emits the same layer with
``weight_format="binary"``: ``B = sign(W)`` (``sign(0) = +1``) packed one bit per weight
(docs/numerics.md) and ``w_scale = alpha[o] = mean(|W[o]|)``. An all-zero filter gets ``alpha = 0``
(its output is the bias alone). The first conv layer of the network (in program order) stays float
unless ``keep_first=False``; layers named in ``skip`` stay float too; depthwise convs (one input channel
per group) are binarized only with ``depthwise="binary"`` (by default ``QuantizePointwiseConvs`` makes
them int8: docs/lowbit.md). Layers named in ``force`` (per-layer rules, ``tvm_sepnet.layer_precision``)
are binarized whatever their role: the first layer, a depthwise or a 1×1 one.
"""
from __future__ import annotations

import numpy as np
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d.packing import pack_weights
from schedules.common import pack_bits_for

from .utils import BindingRewriter, module_pass


def binarize_kernel(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(signs in {-1, +1} as int8, alpha float32 per output channel) of an OIHW kernel."""
    signs = np.where(w >= 0, 1, -1).astype(np.int8)
    alpha = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).mean(axis=1).astype(np.float32)
    return signs, alpha


@mutator
class _Binarizer(BindingRewriter):
    def __init__(self, mod, keep_first: bool, skip, depthwise: str, patterns: bool, force=()):
        super().__init__(mod)
        self.force = set(force)
        self.keep_first = keep_first
        self.depthwise = depthwise
        self.patterns = patterns
        self.skip = set(skip)
        self.seen_first = False

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        is_first, self.seen_first = not self.seen_first, True
        a = conv.attrs
        if a.weight_format != "float" or a.name in self.skip:
            return None
        if a.name not in self.force:
            if a.is_pointwise or (a.is_depthwise and self.depthwise != "binary") or (not a.is_depthwise and not self.patterns):
                return None
            if is_first and self.keep_first:
                return None
        signs, alpha = binarize_kernel(conv.w)
        packed = pack_weights(signs, pack_bits_for(a.channels_per_group))
        return conv.rebuild(w=packed, w_scale=alpha, attrs=a.replace(weight_format="binary"))


@module_pass("BinarizePatternConvs")
class BinarizePatternConvs:
    """Binarize every k×k float conv layer (k > 1) with a per-filter scale alpha = mean|W|."""

    def __init__(self, keep_first: bool = True, skip=(), depthwise: str = "int8", patterns: bool = True, force=()):
        self.keep_first = keep_first
        self.force = tuple(force)
        self.skip = tuple(skip)
        self.depthwise = depthwise
        self.patterns = patterns  # False: only depthwise layers (with depthwise="binary")

    def rewrite_module(self, mod):
        return _Binarizer(mod, self.keep_first, self.skip, self.depthwise, self.patterns, self.force).run()
