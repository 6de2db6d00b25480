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


def _mean_module(axis, keepdims, shape=SHAPE):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.mean(x, axis=axis, keepdims=keepdims), name_hint="y")
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def test_structural_spatial_mean_becomes_the_exact_kernel():
    """ONNX's GlobalAveragePool / ReduceMean over H, W (keepdims) is the pool; without keepdims the
    pooled tensor is reshaped to (N, C)."""
    for keepdims in (True, False):
        bb = relax.BlockBuilder()
        x = relax.Var("x", relax.TensorType(SHAPE, "float32"))
        with bb.function("main", [x]):
            with bb.dataflow():
                gv = bb.add_func(as_scheduled_kernel(global_avg_pool_prim_func(SHAPE)), "global_avg_pool_exact")
                pooled = relax.call_tir(gv, [x], relax.TensorType((2, 16, 1, 1), "float32"))
                if keepdims:
                    y = bb.emit(pooled, name_hint="y")
                else:
                    y = bb.emit(relax.op.reshape(bb.emit(pooled), (2, 16)), name_hint="y")
                out = bb.emit_output(y)
            bb.emit_func_output(out)
        tvm.ir.assert_structural_equal(LowerGlobalAvgPool()(_mean_module([-2, -1], keepdims)), bb.get())


def test_other_means_are_left_to_tvm():
    for mod in (_mean_module([1], True), _mean_module([1, 2, 3], True), _mean_module([1], False, shape=(2, 16))):
        tvm.ir.assert_structural_equal(LowerGlobalAvgPool()(mod), mod)


def test_spatial_means_are_bit_exact_with_the_reference_at_any_channel_count():
    """Channel vectors of 8, 4, 2 lanes and one channel at a time (C = 24, 12, 6, 5), with and without
    keepdims, against the reference executor and the contract."""
    target = get_target("x86")
    for c in (24, 12, 6, 5):
        shape = (1, c, 9, 11)
        x = (np.random.default_rng(c).standard_normal(shape) * 1e3).astype(np.float32)
        for keepdims in (True, False):
            mod = _mean_module([2, 3], keepdims, shape=shape)
            ref = ReferenceExecutor(*export_graph(mod)).run(x)[0]
            ex = tvm.compile(LowerGlobalAvgPool()(mod), target=target.tvm_target(), relax_pipeline=build_pipeline(target))
            got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
            direct = x.astype(np.float64).mean(axis=(2, 3), keepdims=keepdims).astype(np.float32)
            assert got.shape == direct.shape and np.array_equal(got, ref) and np.array_equal(got, direct), (c, keepdims)


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
