"""BinarizeSignActivations: a float conv layer that reads ±s activations and ±alpha weights becomes a sign
layer (±1 activations, XOR + popcount; docs/numerics.md "Sign layers").

Matches a float ``sepnet.conv2d`` (from ``WrapConvLayers``) whose input is bound to ``sign(v)`` (ONNX
``Sign``) or ``where(less(v, 0), -s, s)`` with a positive scalar constant ``s`` (QONNX ``BipolarQuant`` on an
activation, rewritten by ``tvm_sepnet.frontend.binary_onnx``), and whose weights take exactly two values
``±alpha[o]`` per output channel (binarized weights with a per-filter scale; an all-zero filter has
``alpha = 0``). Emits the sign layer on ``v``: weights ``sign(W)`` packed (``W >= 0`` -> +1), multiplier
``s * alpha[o]``, the layer's bias, zero padding (``pad_value = 0``, ONNX's). ``sign(0) = 0`` in ONNX but
+1 in the sign layer (documented in ``binary_onnx``).
"""
from __future__ import annotations

import numpy as np
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d.packing import pack_weights
from schedules.common import pack_bits_for

from .utils import BindingRewriter, const_value, module_pass, op_name


def per_channel_binary(w: np.ndarray) -> np.ndarray | None:
    """``alpha[o]`` if every filter of OIHW ``w`` takes only the values ``±alpha[o]``, else None."""
    flat = np.abs(w.astype(np.float32)).reshape(w.shape[0], -1)
    alpha = flat.max(axis=1)
    return alpha if np.all(flat == alpha[:, None]) else None


@mutator
class _SignConvs(BindingRewriter):
    def _sign_source(self, x):
        """(v, s) when ``x`` is bound to sign(v) (s = 1) or where(less(v, 0), -s, s), else None."""
        value = self.value_of(x)
        kind = op_name(value)
        if kind == "relax.sign":
            return value.args[0], np.float32(1.0)
        if kind != "relax.where":
            return None
        cond, neg, pos = (self.value_of(a) for a in value.args)
        if op_name(cond) != "relax.less":
            return None
        zero, lo, hi = const_value(self.value_of(cond.args[1])), const_value(neg), const_value(pos)
        if zero is None or lo is None or hi is None or zero.size != 1 or lo.size != 1 or hi.size != 1:
            return None
        s = np.float32(hi.reshape(-1)[0])
        if float(zero.reshape(-1)[0]) != 0.0 or not s > 0 or np.float32(lo.reshape(-1)[0]) != -s:
            return None
        return cond.args[0], s

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None or conv.attrs.weight_format != "float" or conv.attrs.act.get("kind") != "float":
            return None
        src = self._sign_source(conv.x)
        alpha = per_channel_binary(conv.w)
        if src is None or alpha is None:
            return None
        v, s = src
        a = conv.attrs
        signs = np.where(conv.w >= 0, 1, -1).astype(np.int8)
        mult = (np.float64(s) * alpha.astype(np.float64)).astype(np.float32)
        attrs = a.replace(weight_format="binary", act={"kind": "sign"}, pad_value=0, acc_relu=False)
        from tvm_sepnet.ops import make_conv

        return make_conv(v, pack_weights(signs, pack_bits_for(a.channels_per_group)), mult, conv.bias, attrs)


@module_pass("BinarizeSignActivations")
class BinarizeSignActivations:
    """Turn convs on sign / BipolarQuant activations with binary weights into sign layers (module docstring)."""

    def rewrite_module(self, mod):
        return _SignConvs(mod).run()
