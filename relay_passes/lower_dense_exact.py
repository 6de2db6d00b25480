"""LowerDenseExact: ``matmul(x, W)`` by a constant matrix on a 2-D float32 input -> the exact float conv kernel.

Matches ``relax.matmul(x, W)`` with ``x`` float32 ``(N, K)`` and ``W`` a float32 constant ``(K, M)`` (a
``Gemm`` / ``Linear`` layer, bias added after it). Emits ``reshape(float_conv2d_exact(reshape(x, (N, K, 1,
1)), W^T as (M, K, 1, 1), bias 0), (N, M))``: products and sums in float64, one rounding to float32, the
reference executor's ``matmul`` contract, run by a scheduled kernel (stock TVM sums in float32, and its
float64 matmul is unscheduled scalar code: docs/measurements.md). Other matmuls are left to
``PromoteToFloat64``.
"""
from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.float_conv2d_exact.kernel import float_conv2d_exact_prim_func
from tvm_sepnet.targets import get_target

from .lower_to_kernels import as_scheduled_kernel
from .utils import BindingRewriter, const_value, module_pass, op_name


def _shape(expr):
    ty = expr.ty
    if isinstance(ty, relax.TensorType) and ty.shape is not None and str(ty.dtype) == "float32":
        return [int(v) for v in ty.shape]
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
        if x_shape is None or len(x_shape) != 2 or w is None or w.ndim != 2 or w.dtype != np.float32:
            return None
        (n, k), m = x_shape, int(w.shape[1])
        key = (n, k, m)
        if key not in self.kernels:
            func = float_conv2d_exact_prim_func((n, k, 1, 1), (m, k, 1, 1), family=self.family)
            self.kernels[key] = self.builder_.add_func(as_scheduled_kernel(func), "dense_exact")
        x4 = self.builder_.emit(relax.op.reshape(call.args[0], (n, k, 1, 1)))
        weights = relax.const(np.ascontiguousarray(w.T).reshape(m, k, 1, 1))
        y = self.builder_.emit(relax.call_tir(self.kernels[key], [x4, weights, relax.const(np.zeros(m, np.float32))],
                                              relax.TensorType((n, m, 1, 1), "float32")))
        return relax.op.reshape(y, (n, m))


@module_pass("LowerDenseExact")
class LowerDenseExact:
    """Lower constant-weight 2-D float32 matmuls to the exact float conv kernel (module docstring)."""

    def __init__(self, target="x86"):
        self.family = get_target(target).family

    def rewrite_module(self, mod):
        return _DenseLowerer(mod, self.family).run()
