"""LowerGlobalAvgPool: structure (Input -> Expected), what it leaves alone, and numerics (the exact
float64 kernel is bit-exact with the reference executor's mean, where TVM's float32 pooling is not)."""
import numpy as np
import tvm
from tvm import relax

from relay_passes import LowerGlobalAvgPool
from relay_passes.lower_to_kernels import as_scheduled_kernel
from relay_passes.target_pipeline import build_pipeline
from schedules.global_avg_pool.kernel import global_avg_pool_prim_func
from tvm_sepnet.graph_export import export_graph
from tvm_sepnet.reference import ReferenceExecutor
from tvm_sepnet.targets import get_target

SHAPE = (2, 16, 7, 7)


def _pool_module(output_size=(1, 1), layout="NCHW"):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.adaptive_avg_pool2d(x, output_size=output_size, layout=layout), name_hint="y")
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def test_structural_global_pool_becomes_the_exact_kernel():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            gv = bb.add_func(as_scheduled_kernel(global_avg_pool_prim_func(SHAPE)), "global_avg_pool_exact")
            y = bb.emit(relax.call_tir(gv, [x], relax.TensorType((2, 16, 1, 1), "float32")), name_hint="y")
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    tvm.ir.assert_structural_equal(LowerGlobalAvgPool()(_pool_module()), bb.get())


def test_other_pools_are_left_to_tvm():
    for mod in (_pool_module(output_size=(2, 2)), _pool_module(layout="NHWC")):
        tvm.ir.assert_structural_equal(LowerGlobalAvgPool()(mod), mod)


def test_exact_kernel_is_bit_exact_with_the_reference():
    mod = _pool_module()
    x = (np.random.default_rng(0).standard_normal(SHAPE) * 1e3).astype(np.float32)
    ref = ReferenceExecutor(*export_graph(mod)).run(x)[0]
    target = get_target("x86")
    ex = tvm.compile(LowerGlobalAvgPool()(mod), target=target.tvm_target(), relax_pipeline=build_pipeline(target))
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    direct = x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)  # the contract itself
    assert np.array_equal(got, direct)
