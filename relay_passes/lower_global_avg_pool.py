"""LowerGlobalAvgPool: ``adaptive_avg_pool2d(x, output_size=1)`` and ``mean(x, axis=[2, 3])`` (ONNX's
``GlobalAveragePool`` and ``ReduceMean`` over H and W, e.g. squeeze-and-excitation blocks) on NCHW float32
→ the exact float64-accumulating kernel of ``schedules/global_avg_pool`` (bit-exact with the reference
executor; TVM's stock pooling sums in float32, and a float64 ``mean`` runs as a cast kernel and a
scalar reduction). A ``mean`` without ``keepdims`` reshapes the kernel's ``(N, C, 1, 1)`` result to
``(N, C)``. Other pools and means are left to TVM."""
from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.global_avg_pool.kernel import global_avg_pool_prim_func

from .lower_to_kernels import as_scheduled_kernel
from .utils import BindingRewriter, module_pass, op_name


@mutator
class _PoolLowerer(BindingRewriter):
    def __init__(self, mod):
        super().__init__(mod)
        self.kernels = {}

    def rewrite_call(self, call, var):
        name = op_name(call)
        if name == "relax.nn.adaptive_avg_pool2d":
            attrs = call.attrs
            size = [int(v) for v in attrs.output_size] if attrs.output_size is not None else [1, 1]
            if size not in ([1], [1, 1]) or str(attrs.layout) != "NCHW":
                return None
            return self._pool(call.args[0], keepdims=True)
        if name == "relax.mean" and _spatial_axes(call):
            return self._pool(call.args[0], keepdims=bool(call.attrs.keepdims))
        return None

    def _pool(self, x, keepdims):
        if not isinstance(x.ty, relax.TensorType) or str(x.ty.dtype) != "float32" or x.ty.ndim != 4:
            return None
        if not all(isinstance(v, tvm.tirx.IntImm) for v in x.ty.shape):
            return None
        shape = tuple(int(v) for v in x.ty.shape)
        if shape not in self.kernels:
            self.kernels[shape] = self.builder_.add_func(as_scheduled_kernel(global_avg_pool_prim_func(shape)),
                                                         "global_avg_pool_exact")
        pooled = relax.call_tir(self.kernels[shape], [x], relax.TensorType((shape[0], shape[1], 1, 1), "float32"))
        if keepdims:
            return pooled
        return relax.op.reshape(self.builder_.emit(pooled), (shape[0], shape[1]))


def _spatial_axes(call) -> bool:
    """Whether a ``mean`` call reduces exactly the last two axes of a 4-D tensor."""
    axes = call.attrs.axis
    ndim = call.args[0].ty.ndim if isinstance(call.args[0].ty, relax.TensorType) else -1
    if axes is None or ndim != 4:
        return False
    return sorted(int(a) % 4 for a in axes) == [2, 3]


@module_pass("LowerGlobalAvgPool")
class LowerGlobalAvgPool:
    """Lower global average pooling to the exact kernel (see the module docstring)."""

    def rewrite_module(self, mod):
        return _PoolLowerer(mod).run()
