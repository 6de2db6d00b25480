"""BinarizePatternConvs, QuantizePointwiseConvs, QuantizeActivations and LowerToKernels on tiny graphs."""
import numpy as np
import pytest

from relay_passes import (
    BinarizePatternConvs,
    FuseReLU,
    LowerToKernels,
    QuantizeActivations,
    QuantizePointwiseConvs,
    WrapConvLayers,
)
from schedules.bitserial_conv2d.packing import unpack_weights
from tests.conftest import conv_layers, count_ops
from tests.relay_passes.graphs import conv_net

LAYERS = [(16, 3, 2, 1, 1), (16, 3, 1, 1, 4), (32, 1, 1, 0, 4), (32, 5, 1, 2, 2)]


def wrapped(**kw):
    mod, params = conv_net(LAYERS, x_shape=(1, 8, 12, 12), **kw)
    return FuseReLU()(WrapConvLayers()(mod)), params


def test_binarize_kxk_keeps_first_and_pointwise():
    mod, params = wrapped()
    out = BinarizePatternConvs()(mod)
    fmts = [c.attrs.weight_format for c in conv_layers(out)]
    assert fmts == ["float", "binary", "float", "binary"]
    conv1 = conv_layers(out)[1]
    w = params["conv1.weight"]
    np.testing.assert_array_equal(unpack_weights(conv1.w, 4), np.where(w >= 0, 1, -1))
    np.testing.assert_allclose(conv1.w_scale, np.abs(w).reshape(16, -1).mean(axis=1), rtol=1e-6)
    # 1 bit per weight: 16 filters x 4 channels x 9 taps -> one 8-bit word per (filter, tap)
    assert conv1.w.dtype == np.uint8 and conv1.w.shape == (16, 1, 3, 3)


def test_binarize_first_when_asked_and_skip_by_name():
    mod, _ = wrapped()
    out = BinarizePatternConvs(keep_first=False, skip=["conv3"])(mod)
    assert [c.attrs.weight_format for c in conv_layers(out)] == ["binary", "binary", "float", "float"]


def test_binarize_sign_of_zero_is_plus_one():
    from relay_passes.binarize_pattern_convs import binarize_kernel

    w = np.zeros((2, 3, 3, 3), "float32")
    w[1, 0, 0, 0] = -2.0
    signs, alpha = binarize_kernel(w)
    assert signs[0].min() == 1 and signs[1, 0, 0, 0] == -1 and signs[1].sum() == 26 - 1
    assert alpha[0] == 0.0 and alpha[1] == pytest.approx(2.0 / 27)


def test_quantize_pointwise_only_touches_1x1():
    mod, params = wrapped()
    out = QuantizePointwiseConvs()(BinarizePatternConvs()(mod))
    layers = conv_layers(out)
    assert [c.attrs.weight_format for c in layers] == ["float", "binary", "int8", "binary"]
    q = layers[2]
    assert q.w.dtype == np.int8 and np.abs(q.w).max() == 127
    np.testing.assert_allclose(q.w * q.w_scale.reshape(-1, 1, 1, 1), params["conv2.weight"],
                               atol=float(q.w_scale.max()) / 2 + 1e-7)


def test_quantize_activations_sets_quantizers_from_ranges():
    mod, _ = wrapped()
    mod = QuantizePointwiseConvs()(BinarizePatternConvs()(mod))
    ranges = {"conv1": (0.0, 3.0), "conv2": (-1.0, 2.54), "conv3": (0.0, 0.0)}
    out = QuantizeActivations(ranges, act_bits=2)(mod)
    layers = {c.attrs.name: c.attrs for c in conv_layers(out)}
    assert layers["conv0"].accumulate == "float64" and layers["conv0"].act == {"kind": "float"}
    assert layers["conv1"].act["kind"] == "uint" and layers["conv1"].act["bits"] == 2
    assert layers["conv1"].act["scale"] == pytest.approx(1.0)
    assert layers["conv2"].act["kind"] == "int" and layers["conv2"].act["scale"] == pytest.approx(2.54 / 127)
    assert layers["conv3"].act["scale"] > 0  # a constant-zero input still gets a usable step
    with pytest.raises(ValueError, match="act_bits"):
        QuantizeActivations(ranges, act_bits=9)


def test_lower_to_kernels_op_counts():
    mod, _ = wrapped()
    mod = QuantizePointwiseConvs()(BinarizePatternConvs()(mod))
    mod = QuantizeActivations({}, act_bits=2)(mod)
    low = LowerToKernels("x86", dataflow="float")(mod)
    counts = count_ops(low)
    assert "sepnet.conv2d" not in counts
    assert counts == {"call_tir:float_conv2d_exact": 1, "call_tir:quantize_bitpack": 2,
                      "call_tir:bitserial_conv2d": 2, "call_tir:quantize": 1, "call_tir:int8_conv2d": 1}
    # identical kernels are added once: the two binary convs differ in shape, so there are two
    n_prim = sum(1 for _, f in low.functions_items() if type(f).__name__ == "PrimFunc")
    assert n_prim == 7
    # integer dataflow: the int8 layer (1x1, channels per group a multiple of 4) is one dot_conv2d kernel
    # that quantizes its float input itself; the bitserial layers keep their kernels
    counts = count_ops(LowerToKernels("x86")(mod))
    assert counts["call_tir:dot_conv2d"] == 1 and "call_tir:int8_conv2d" not in counts and "call_tir:quantize" not in counts


def test_lower_float_activation_modes():
    mod, _ = wrapped()
    mod = QuantizePointwiseConvs()(BinarizePatternConvs()(mod))
    counts = count_ops(LowerToKernels("x86")(mod))
    assert counts["call_tir:decoded_weight_conv2d"] == 3  # two binary + one int8 weight layer
    assert counts["call_tir:float_conv2d_exact"] == 1  # the float first conv


def test_lower_float32_accumulation_uses_stock_tvm_conv():
    mod, _ = wrapped()
    layers = conv_layers(mod)
    from tvm.relax.expr_functor import mutator

    from relay_passes.utils import BindingRewriter  # noqa: F401  (the pass API under test)
    from tvm_sepnet.ops import parse_conv

    @mutator
    class ToFloat32(BindingRewriter):
        def rewrite_call(self, call, var):
            conv = parse_conv(call)
            return conv.rebuild(attrs=conv.attrs.replace(accumulate="float32")) if conv else None

    counts = count_ops(LowerToKernels("x86")(ToFloat32(mod).run()))
    assert counts["relax.nn.conv2d"] == len(layers) and "call_tir:float_conv2d_exact" not in counts
