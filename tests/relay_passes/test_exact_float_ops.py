"""LowerDenseExact, PromoteToFloat64 and FenceMultiplyAdd: what each emits, and that the built module equals
the reference executor's numpy twins bit for bit."""
import numpy as np
import pytest
from tvm import relax

import tvm_sepnet
from relay_passes import FenceMultiplyAdd, LowerDenseExact, PromoteToFloat64
from tests.conftest import count_ops

FLOAT = {"kxk": "float", "pointwise": "float", "act_bits": None}


def _module(shape, body):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(body(bb, x))
        bb.emit_func_output(y)
    return bb.get()


@pytest.mark.parametrize("x_shape,m", [((1, 512), 100), ((3, 64), 10), ((1, 5, 5, 48), 96)])
def test_lower_dense_exact(x_shape, m, rng):
    w = (rng.standard_normal((x_shape[-1], m)) * 0.1).astype(np.float32)
    mod = _module(x_shape, lambda bb, x: relax.op.matmul(x, relax.const(w)))
    lowered = LowerDenseExact()(mod)
    ops = count_ops(lowered)
    assert "relax.matmul" not in ops and ops["call_tir:dense_exact"] == 1
    x = rng.standard_normal(x_shape).astype(np.float32)
    res = tvm_sepnet.build(mod, "x86", **FLOAT).check(x)
    assert res["bit_exact"]
    assert np.array_equal(res["outputs"][0], (x.astype(np.float64) @ w.astype(np.float64)).astype(np.float32))


def test_matmul_of_two_activations_is_promoted_not_lowered():
    mod = _module((1, 4, 8), lambda bb, x: relax.op.matmul(x, bb.emit(relax.op.permute_dims(x, [0, 2, 1]))))
    assert "call_tir:dense_exact" not in count_ops(LowerDenseExact()(mod))
    ops = count_ops(PromoteToFloat64()(mod))
    assert ops["relax.matmul"] == 1 and ops["relax.astype"] == 3  # two float64 operands, one float32 result


def test_promote_to_float64_casts_around_the_op_and_folds_constant_casts():
    g = np.linspace(0.5, 1.5, 6).astype(np.float32)
    mod = _module((2, 6), lambda bb, x: relax.op.nn.layer_norm(bb.emit(relax.op.sigmoid(x)), relax.const(g),
                                                                 relax.const(g), axes=[-1]))
    ops = count_ops(PromoteToFloat64()(mod))
    assert ops["relax.sigmoid"] == 1 and "relax.nn.layer_norm" not in ops  # written out in float64
    assert ops["relax.astype"] == 4  # sigmoid in/out, layer norm in/out; gamma and beta converted at compile time


def test_fence_multiply_add_and_bit_exact_hardsigmoid(rng):
    alpha, beta = relax.const(np.float32(1 / 6)), relax.const(np.float32(0.5))
    mod = _module((1, 8, 16, 16), lambda bb, x: relax.op.clip(
        bb.emit(relax.op.add(bb.emit(relax.op.multiply(alpha, x)), beta)), 0, 1))
    ops = count_ops(FenceMultiplyAdd()(mod))
    assert ops["call_tir:fenced_multiply"] == 1 and "relax.multiply" not in ops
    x = (rng.standard_normal((1, 8, 16, 16)) * 4).astype(np.float32)
    res = tvm_sepnet.build(mod, "x86", **FLOAT).check(x)
    assert res["bit_exact"]
    a = np.float32(1 / 6) * x  # rounded, then added: what ONNX and the reference compute
    assert np.array_equal(res["outputs"][0], np.clip(a + np.float32(0.5), 0, 1))


@pytest.mark.parametrize("x_shape,m", [((3, 64), 10), ((1, 5, 5, 48), 96)])
def test_dense_as_int8_layer(x_shape, m, rng):
    """``dense="int8"``: WrapConvLayers makes a constant-weight matmul a 1×1 layer, quantized like a pointwise conv."""
    w = (rng.standard_normal((x_shape[-1], m)) * 0.1).astype(np.float32)
    mod = _module(x_shape, lambda bb, x: relax.op.matmul(bb.emit(relax.op.nn.relu(x)), relax.const(w)))
    art = tvm_sepnet.build(mod, "x86", dense="int8", layer_names=["classifier"])
    (row,) = [r for r in art.layers if r["kind"] != "other"]
    assert (row["name"], row["role"], row["kind"]) == ("classifier", "dense", "int8_conv")
    assert art.check(rng.standard_normal(x_shape).astype(np.float32))["bit_exact"]
