"""LowerDenseExact: ``matmul(x, W)`` by a constant matrix -> the exact float dense kernel.

Matches ``relax.matmul(x, W)`` with ``x`` float32 ``(..., K)`` and ``W`` a float32 constant ``(K, M)`` (a
``Gemm`` / ``Linear`` layer, bias added after it; a channels-last MLP like ConvNeXt's). With ``P`` the
product of ``x``'s leading dimensions, emits: ``x`` as ``(P, K)``, ``float_dense_exact`` with ``W`` packed
at compile time in tiles of output columns and bias 0, back to ``(..., M)``: products and sums in float64,
one rounding to float32, the reference executor's ``matmul`` contract, run by a scheduled kernel (stock TVM
sums in float32, and its float64 matmul is unscheduled scalar code: docs/measurements.md). Matmuls of two
activations are left to ``PromoteToFloat64``.
"""
from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.float_dense_exact.kernel import float_dense_exact_prim_func, float_dense_exact_tile
from schedules.float_dense_exact.packing import pack_dense_weights
from tvm_sepnet.targets import get_target

from .lower_to_kernels import as_scheduled_kernel
from .utils import BindingRewriter, const_value, is_float32, module_pass, op_name


def _shape(expr):
    if is_float32(expr) and expr.ty.shape is not None:
        return [int(v) for v in expr.ty.shape]
    return None


@mutator
class _DenseLowerer(BindingRewriter):
    def __init__(self, mod, family):
        super().__init__(mod)
        self.family = family
        self.kernels = {}

    def rewrite_call(self, call, var):
        if op_name(call) != "relax.matmul":
            return None
        x_shape, w = _shape(call.args[0]), const_value(call.args[1])
        if x_shape is None or len(x_shape) < 2 or w is None or w.ndim != 2 or w.dtype != np.float32:
            return None
        *lead, k = x_shape
        p, m = int(np.prod(lead)), int(w.shape[1])
        if k != int(w.shape[0]):
            return None
        emit = self.builder_.emit
        if (p, k, m) not in self.kernels:
            func = float_dense_exact_prim_func((p, k), m, family=self.family)
            self.kernels[p, k, m] = self.builder_.add_func(as_scheduled_kernel(func), "dense_exact")
        x = call.args[0] if len(x_shape) == 2 else emit(relax.op.reshape(call.args[0], (p, k)))
        weights = relax.const(pack_dense_weights(w, float_dense_exact_tile(m, self.family)))
        y = relax.call_tir(self.kernels[p, k, m], [x, weights, relax.const(np.zeros(m, np.float32))],
                           relax.TensorType((p, m), "float32"))
        return y if len(x_shape) == 2 else relax.op.reshape(emit(y), (*lead, m))


@module_pass("LowerDenseExact")
class LowerDenseExact:
    """Lower float32 matmuls by a constant matrix to the exact float conv kernel (module docstring)."""

    def __init__(self, target="x86"):
        self.family = get_target(target).family

    def rewrite_module(self, mod):
        return _DenseLowerer(mod, self.family).run()
