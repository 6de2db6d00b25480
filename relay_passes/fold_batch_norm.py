"""FoldBatchNorm: fold inference batch norm into the preceding float ``sepnet.conv2d`` layer.

Matches inference-mode (``training=False``) ``batch_norm(conv, gamma, beta, mean, var)[0]`` where ``conv`` is a float
``sepnet.conv2d`` or a sign layer (±1 activations), used only by the batch norm, and the four statistics are
constants. Emits the conv with ``W' = W * k`` (float layers; a sign layer's ±1 weights stay, its multiplier
becomes ``w_scale * k``) and ``b' = (b - mean) * k + beta`` where ``k = gamma / sqrt(var + eps)`` (float64
math, rounded to float32 once). NaN/Inf statistics raise InvalidWeightsError naming the layer.
"""
from __future__ import annotations

import numpy as np
from tvm.relax.expr_functor import mutator

from .utils import BindingRewriter, const_value, module_pass, op_name
from .wrap_conv_layers import check_finite


@mutator
class _Folder(BindingRewriter):
    def rewrite_tuple_getitem(self, item, var):
        if item.index != 0:
            return None
        bn = self.value_of(item.tuple_value)
        if op_name(bn) != "relax.nn.batch_norm" or int(bn.attrs.axis) != 1 or bool(bn.attrs.training):
            return None  # training-mode batch norm normalizes with batch statistics: not foldable
        conv = self.conv_of(bn.args[0])
        if conv is None or not self.single_use(bn.args[0]):
            return None
        if conv.attrs.weight_format != "float" and not conv.attrs.is_sign:
            return None
        if conv.attrs.residual or conv.attrs.relu or conv.attrs.residual_quant:
            return None
        stats = [const_value(self.value_of(a)) for a in bn.args[1:5]]
        if any(s is None for s in stats):
            return None
        gamma, beta, mean, var_ = (s.astype(np.float64).reshape(-1) for s in stats)
        for what, s in zip(("gamma", "beta", "mean", "variance"), (gamma, beta, mean, var_)):
            check_finite(conv.attrs.name, f"batch norm {what}", s)
        if not bool(bn.attrs.scale):
            gamma = np.ones_like(gamma)
        if not bool(bn.attrs.center):
            beta = np.zeros_like(beta)
        k = gamma / np.sqrt(var_ + float(bn.attrs.epsilon))
        b = ((conv.bias.astype(np.float64) - mean) * k + beta).astype(np.float32)
        if conv.attrs.is_sign:  # the multiply-add epilogue takes the batch norm
            mult = (conv.w_scale.astype(np.float64) * k).astype(np.float32)
            check_finite(conv.attrs.name, "folded multiplier", mult)
            return conv.rebuild(w_scale=mult, bias=b)
        w = (conv.w.astype(np.float64) * k.reshape(-1, 1, 1, 1)).astype(np.float32)
        check_finite(conv.attrs.name, "folded kernel", w)
        return conv.rebuild(w=w, bias=b)


@module_pass("FoldBatchNorm")
class FoldBatchNorm:
    """Fold inference batch norms into the float conv layers that feed them."""

    def rewrite_module(self, mod):
        return _Folder(mod).run()
