"""LowerGlobalAvgPool: ``adaptive_avg_pool2d(x, output_size=1)`` on NCHW float32 → the exact
float64-accumulating kernel of ``schedules/global_avg_pool`` (bit-exact with the reference executor;
TVM's stock pooling sums in float32). Other pools are left to TVM."""
from __future__ import annotations

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
        if op_name(call) != "relax.nn.adaptive_avg_pool2d":
            return None
        attrs = call.attrs
        size = [int(v) for v in attrs.output_size] if attrs.output_size is not None else [1, 1]
        x = call.args[0]
        if size not in ([1], [1, 1]) or str(attrs.layout) != "NCHW" or str(x.ty.dtype) != "float32":
            return None
        shape = tuple(int(v) for v in x.ty.shape)
        if shape not in self.kernels:
            self.kernels[shape] = self.builder_.add_func(as_scheduled_kernel(global_avg_pool_prim_func(shape)),
                                                         "global_avg_pool_exact")
        return relax.call_tir(self.kernels[shape], [x], relax.TensorType((shape[0], shape[1], 1, 1), "float32"))


@module_pass("LowerGlobalAvgPool")
class LowerGlobalAvgPool:
    """Lower global average pooling to the exact kernel (see the module docstring)."""

    def rewrite_module(self, mod):
        return _PoolLowerer(mod).run()
