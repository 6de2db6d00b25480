"""WrapConvLayers: turn every ``relax.nn.conv2d`` with a constant kernel into a ``sepnet.conv2d`` layer.

Matches ``conv2d(x, W)`` (NCHW/OIHW, float32, constant W) and a following ``add(conv, b)`` with a
constant per-channel bias (shape ``(1, O, 1, 1)``, ``(O, 1, 1)`` or ``(O,)``), the form that both the
model zoo and the ONNX frontend emit. Emits ``sepnet.conv2d(x, W, ones, b)`` with
``weight_format="float"``; the layer is named after the conv binding, or after ``names[i]`` for the
i-th conv in program order when ``names`` is given (e.g. ONNX node names), made unique.
A NaN or Inf weight raises :class:`InvalidWeightsError` naming the layer.

With ``dense=True``, a ``matmul(x, W)`` by a constant float32 matrix ``W (K, M)`` (a Gemm / Linear layer) on
``x (..., K)`` becomes a 1×1 layer too (``attrs.dense``): ``x`` as ``(P, K)`` (``P`` the product of the
leading dimensions), transposed to a ``(1, K, P, 1)`` image, ``sepnet.conv2d`` with ``W^T`` as ``(M, K, 1,
1)``, and back to ``(..., M)``; the later passes treat it as a pointwise conv (int8 weights). Names are
given to conv2d and constant-weight matmul layers alike, in program order (a matmul left alone is bound
under its layer name).
"""
from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.expr_functor import mutator

from tvm_sepnet.errors import InvalidWeightsError, UnsupportedOpError
from tvm_sepnet.ops import ConvAttrs, make_conv

from .utils import BindingRewriter, const_value, is_float32, module_pass, op_name

#: a weight of larger magnitude is an error: a product with an activation of order 1 summed over a layer
#: overflows float32 (max 3.4e38) in the float twin and in the scales of the quantized layers
MAX_WEIGHT_MAGNITUDE = 1e18


def check_finite(name: str, what: str, array: np.ndarray) -> None:
    """Raise InvalidWeightsError if ``array`` has a NaN or Inf, or a value beyond ``MAX_WEIGHT_MAGNITUDE``."""
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InvalidWeightsError(
            f"layer {name!r}: {what} of shape {tuple(array.shape)} has {bad} NaN/Inf value(s); "
            "fix or retrain the model before compiling"
        )
    if np.issubdtype(array.dtype, np.floating) and array.size and float(np.max(np.abs(array))) > MAX_WEIGHT_MAGNITUDE:
        raise InvalidWeightsError(
            f"layer {name!r}: {what} of shape {tuple(array.shape)} has a value of magnitude "
            f"{float(np.max(np.abs(array))):.3g} (> {MAX_WEIGHT_MAGNITUDE:g}): its products overflow float32; "
            "fix or retrain the model before compiling")


@mutator
class _Wrapper(BindingRewriter):
    def __init__(self, mod, names=None, dense=False):
        super().__init__(mod)
        self.names: set[str] = set()
        self.given = list(names or [])
        self.count = 0
        self.dense = dense

    def _unique(self, name: str) -> str:
        base, k = name or "conv", 1
        while name in self.names or not name:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def rewrite_call(self, call, var):
        kind = op_name(call)
        if kind == "relax.nn.conv2d":
            return self._wrap_conv(call, var)
        if kind == "relax.matmul" and const_value(call.args[1]) is not None:
            return self._wrap_dense(call, var)
        if kind == "relax.add":
            return self._fold_bias(call)
        return None

    def _next_name(self, var) -> str:
        given = self.given[self.count] if self.count < len(self.given) else None
        self.count += 1
        return self._unique(given or var.name)

    def _wrap_dense(self, call, var):
        name = self._next_name(var)
        w, x = const_value(call.args[1]), call.args[0]
        self.binding_names[var.id_] = name  # a float dense layer keeps its layer name as its binding's
        if not self.dense or w.ndim != 2 or w.dtype != np.float32 or not is_float32(x) or x.ty.shape is None:
            return None
        *lead, k = (int(v) for v in x.ty.shape)
        p, m = int(np.prod(lead)), int(w.shape[1])
        if not lead or k != int(w.shape[0]):
            return None
        check_finite(name, "weight", w)
        emit = self.builder_.emit
        x2 = emit(relax.op.reshape(x, (p, k)))
        image = emit(relax.op.reshape(x2 if p == 1 else emit(relax.op.permute_dims(x2, [1, 0])), (1, k, p, 1)))
        attrs = ConvAttrs(name=name, channels=m, in_channels=k, kernel=(1, 1), dense=True)
        y = emit(make_conv(image, np.ascontiguousarray(w.T).reshape(m, k, 1, 1), np.ones(m, np.float32),
                           np.zeros(m, np.float32), attrs))
        y = emit(relax.op.reshape(y, (m, p)))
        return relax.op.reshape(y if p == 1 else emit(relax.op.permute_dims(y, [1, 0])), (*lead, m))

    def _wrap_conv(self, call, var):
        a = call.attrs
        w = const_value(call.args[1])
        name = self._next_name(var)
        if w is None:
            return None  # a conv with a run-time kernel stays a plain relax conv
        if a.data_layout != "NCHW" or a.kernel_layout != "OIHW":
            raise UnsupportedOpError(
                f"layer {name!r}: conv2d layout {a.data_layout}/{a.kernel_layout} is not supported; "
                "convert the model to NCHW/OIHW"
            )
        check_finite(name, "kernel", w)
        x_shape = [int(v) for v in call.args[0].ty.shape]
        attrs = ConvAttrs(
            name=name,
            channels=int(w.shape[0]),
            in_channels=x_shape[1],
            kernel=(int(w.shape[2]), int(w.shape[3])),
            strides=tuple(int(s) for s in a.strides),
            padding=tuple(int(p) for p in a.padding),
            dilation=tuple(int(d) for d in a.dilation),
            groups=int(a.groups),
        )
        out_ch = attrs.channels
        return make_conv(call.args[0], w.astype(np.float32), np.ones(out_ch, np.float32),
                         np.zeros(out_ch, np.float32), attrs)

    def _fold_bias(self, call):
        for conv_arg, bias_arg in ((call.args[0], call.args[1]), (call.args[1], call.args[0])):
            conv = self.conv_of(conv_arg)
            bias = const_value(self.value_of(bias_arg))
            if conv is None or bias is None or conv.attrs.weight_format != "float":
                continue
            if not self.single_use(conv_arg):
                continue
            out_ch = conv.attrs.channels
            if bias.size != out_ch or bias.ndim > 4 or (bias.ndim >= 3 and bias.shape[-2:] != (1, 1)):
                continue
            check_finite(conv.attrs.name, "bias", bias)
            return conv.rebuild(bias=conv.bias + bias.reshape(out_ch).astype(np.float32))
        return None


@module_pass("WrapConvLayers")
class WrapConvLayers:
    """Wrap constant-kernel conv2d (+ constant bias add), and with ``dense`` constant-weight matmuls, into
    ``sepnet.conv2d`` float layers."""

    def __init__(self, names=None, dense: bool = False):
        self.layer_names = list(names or [])
        self.dense = dense

    def rewrite_module(self, mod):
        mod = relax.transform.FoldConstant()(mod)
        return _Wrapper(mod, self.layer_names, self.dense).run()
