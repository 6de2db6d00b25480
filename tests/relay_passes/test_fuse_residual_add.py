"""FuseResidualAdd: structure on a pattern residual block, what it leaves alone, and numerics
(reference executor and compiled kernels, fused vs unfused)."""
import numpy as np
import tvm
from tvm import relax

from relay_passes import FuseReLU, FuseResidualAdd
from tests.conftest import conv_layers, count_ops
from tvm_sepnet.graph_export import export_graph
from tvm_sepnet.ops import ConvAttrs, make_conv
from tvm_sepnet.reference import ReferenceExecutor

UINT4 = {"kind": "uint", "bits": 4, "scale": 0.25, "inv_scale": 4.0}


def _prb(act=UINT4, relu_after=True, extra_use=False):
    """relu(conv3x3(x) + conv1x1(x)): the pattern residual block on 8 channels, groups 2."""
    rng = np.random.default_rng(0)
    w3 = rng.integers(-127, 128, (8, 4, 3, 3)).astype(np.int8)
    w1 = rng.integers(-127, 128, (8, 4, 1, 1)).astype(np.int8)
    ws, b = np.full(8, 0.01, np.float32), rng.standard_normal(8).astype(np.float32)
    fmt = "int8" if act["kind"] != "float" else "float"
    if fmt == "float":
        w3, w1 = w3.astype(np.float32) * 0.01, w1.astype(np.float32) * 0.01
    a3 = ConvAttrs("kxk", 8, 8, (3, 3), padding=(1, 1, 1, 1), groups=2, weight_format=fmt, act=act)
    a1 = ConvAttrs("pw", 8, 8, (1, 1), groups=2, weight_format=fmt, act=act)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            k = bb.emit(make_conv(x, w3, ws, b, a3), name_hint="k")
            p = bb.emit(make_conv(x, w1, ws, b, a1), name_hint="p")
            s = bb.emit(relax.op.add(k, p), name_hint="s")
            y = bb.emit(relax.op.nn.relu(s), name_hint="y") if relu_after else s
            outs = [y, p] if extra_use else [y]
            out = bb.emit_output(relax.Tuple(outs) if extra_use else y)
        bb.emit_func_output(out)
    return bb.get(), (w3, w1, ws, b, a3, a1)


def test_structural_prb_becomes_two_convs():
    mod, (w3, w1, ws, b, a3, a1) = _prb()
    got = FuseReLU()(FuseResidualAdd()(mod))
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            k = bb.emit(make_conv(x, w3, ws, b, a3), name_hint="k")
            y = bb.emit(make_conv(x, w1, ws, b, a1.replace(residual=True, relu=True), residual=k), name_hint="y")
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    tvm.ir.assert_structural_equal(got, bb.get())


def test_leaves_float_convs_and_shared_convs_alone():
    mod, _ = _prb(act={"kind": "float"})
    assert count_ops(FuseResidualAdd()(mod))["relax.add"] == 1
    mod, _ = _prb(extra_use=True)  # p is also an output: k (single use) takes p as residual instead
    got = FuseResidualAdd()(mod)
    fused = [c for c in conv_layers(got) if c.attrs.residual]
    assert count_ops(got).get("relax.add", 0) == 0 and [c.attrs.name for c in fused] == ["kxk"]


def test_reference_executor_runs_fused_graph_identically():
    mod, _ = _prb()
    x = np.random.default_rng(1).standard_normal((1, 8, 6, 6)).astype(np.float32) * 2
    before = ReferenceExecutor(*export_graph(mod)).run({"x": x})[0]
    after = ReferenceExecutor(*export_graph(FuseReLU()(FuseResidualAdd()(mod)))).run({"x": x})[0]
    np.testing.assert_array_equal(after, before)
    assert np.any(before == 0) and np.any(before > 0)
