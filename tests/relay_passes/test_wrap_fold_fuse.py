"""WrapConvLayers, FoldBatchNorm and FuseReLU on tiny graphs: structure and numerics."""
import numpy as np
import pytest
import tvm
from tvm import relax

from relay_passes import FoldBatchNorm, FuseReLU, WrapConvLayers
from tests.conftest import conv_layers, count_ops
from tests.relay_passes.graphs import conv_net
from tvm_sepnet.errors import InvalidWeightsError
from tvm_sepnet.graph_export import export_graph
from tvm_sepnet.ops import ConvAttrs, make_conv
from tvm_sepnet.reference import ReferenceExecutor


def test_wrap_folds_bias_and_names_layers():
    mod, params = conv_net([(8, 3, 1, 1, 1), (16, 1, 1, 0, 4)], relu=False)
    out = WrapConvLayers(names=["stem", "proj"])(mod)
    assert count_ops(out) == {"sepnet.conv2d": 2}
    layers = conv_layers(out)
    assert [c.attrs.name for c in layers] == ["stem", "proj"]
    np.testing.assert_array_equal(layers[0].bias, params["conv0.bias"])
    np.testing.assert_array_equal(layers[0].w, params["conv0.weight"])
    assert layers[1].attrs.groups == 4 and layers[1].attrs.kernel == (1, 1)


def test_wrap_rejects_nan_weights_naming_the_layer():
    mod, _ = conv_net([(8, 3, 1, 1, 1)])
    bad = mod["main"].body.blocks[0].bindings[0].value
    w = bad.args[1].value.numpy().copy()
    w[0, 0, 0, 0] = np.nan
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 10, 10), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(w), padding=1), name_hint="broken_conv")
            o = bb.emit_output(y)
        bb.emit_func_output(o)
    with pytest.raises(InvalidWeightsError, match="broken_conv.*NaN"):
        WrapConvLayers()(bb.get())


def test_fold_batch_norm_removes_bn_and_keeps_numerics():
    mod, params = conv_net([(8, 3, 1, 1, 1), (8, 1, 1, 0, 2)], bn=True, relu=True)
    wrapped = WrapConvLayers()(mod)
    assert count_ops(wrapped)["relax.nn.batch_norm"] == 2
    folded = FoldBatchNorm()(wrapped)
    counts = count_ops(folded)
    assert "relax.nn.batch_norm" not in counts and "TupleGetItem" not in counts
    assert counts["sepnet.conv2d"] == 2
    x = np.random.default_rng(1).standard_normal((1, 8, 10, 10)).astype("float32")
    before = ReferenceExecutor(*export_graph(wrapped)).run(x)[0]
    after = ReferenceExecutor(*export_graph(folded)).run(x)[0]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5 * np.abs(before).max())


def test_fold_batch_norm_leaves_a_shared_conv_alone():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 6, 6), "float32"))
    o = 4
    stats = [relax.const(np.ones(o, "float32")), relax.const(np.zeros(o, "float32")),
             relax.const(np.zeros(o, "float32")), relax.const(np.ones(o, "float32"))]
    with bb.function("main", [x]):
        with bb.dataflow():
            c = bb.emit(relax.op.nn.conv2d(x, relax.const(np.ones((o, 4, 3, 3), "float32")), padding=1))
            t = bb.emit(relax.op.nn.batch_norm(c, *stats, axis=1, training=False))
            y = bb.emit(relax.op.add(relax.TupleGetItem(t, 0), c))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    folded = FoldBatchNorm()(WrapConvLayers()(bb.get()))
    assert count_ops(folded)["relax.nn.batch_norm"] == 1


def test_fold_batch_norm_skips_training_mode():
    mod, _ = conv_net([(8, 3, 1, 1, 1)], bn=True)
    bn = next(b.value for b in mod["main"].body.blocks[0].bindings
              if getattr(b.value, "op", None) is not None and getattr(b.value.op, "name", "") == "relax.nn.batch_norm")
    assert not bool(bn.attrs.training)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 10, 10), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            c = bb.emit(relax.op.nn.conv2d(x, relax.const(np.ones((8, 8, 3, 3), "float32")), padding=1))
            t = bb.emit(relax.op.nn.batch_norm(c, *bn.args[1:], axis=1, training=True))
            out = bb.emit_output(relax.TupleGetItem(t, 0))
        bb.emit_func_output(out)
    folded = FoldBatchNorm()(WrapConvLayers()(bb.get()))
    assert count_ops(folded)["relax.nn.batch_norm"] == 1


def _single_conv_module(relu_twice=False):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 6, 6), "float32"))
    attrs = ConvAttrs(name="c", channels=4, in_channels=4, kernel=(3, 3), padding=(1, 1, 1, 1))
    w = np.arange(4 * 4 * 9, dtype="float32").reshape(4, 4, 3, 3)
    with bb.function("main", [x]):
        with bb.dataflow():
            c = bb.emit(make_conv(x, w, np.ones(4, "float32"), np.zeros(4, "float32"), attrs), name_hint="c")
            r = bb.emit(relax.op.nn.relu(c), name_hint="r")
            if relu_twice:
                r = bb.emit(relax.op.add(r, c), name_hint="s")
            out = bb.emit_output(r)
        bb.emit_func_output(out)
    return bb.get(), x, w, attrs


def test_fuse_relu_structural():
    mod, _, w, attrs = _single_conv_module()
    got = FuseReLU()(mod)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            r = bb.emit(make_conv(x, w, np.ones(4, "float32"), np.zeros(4, "float32"), attrs.replace(relu=True)),
                        name_hint="r")
            out = bb.emit_output(r)
        bb.emit_func_output(out)
    tvm.ir.assert_structural_equal(got, bb.get())


def test_fuse_relu_keeps_a_conv_with_two_users():
    mod, *_ = _single_conv_module(relu_twice=True)
    got = FuseReLU()(mod)
    assert count_ops(got)["relax.nn.relu"] == 1
    assert not conv_layers(got)[0].attrs.relu
