"""The layer kinds of torchvision's mobile models (depthwise with a channel multiplier, squeeze-and-excitation,
HardSwish, a channel shuffle written as a shape subgraph, Split/Slice/Pad, a Gemm head) through both
pipelines: float vs onnxruntime, low-bit bit-exact with the reference executor, the weight format each
role gets, and the depthwise options."""
import numpy as np
import onnx
import pytest

import tvm_sepnet
from tests.frontend.onnx_op_cases import mobile_cnn
from tests.onnx_models import run_onnxruntime
from tvm_sepnet.frontend import load_onnx

X = np.random.default_rng(9).standard_normal((1, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module", params=[14, 18, 21], ids=lambda o: f"opset{o}")
def model(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("mobile") / "mobile.onnx"
    onnx.save(mobile_cnn(opset=request.param), str(path))
    return load_onnx(str(path)), run_onnxruntime(onnx.load(str(path)), X)


def _build(model, **options):
    lm, _ = model
    return tvm_sepnet.build(lm.mod, "x86", layer_names=lm.layer_names, **options)


def test_shape_subgraph_folded_and_layers_named_by_module(model):
    lm, _ = model
    assert lm.layer_names == ["stem", "dw", "se.fc1", "se.fc2", "project", "branch.3x3", "tail.3x3", "fc"]


def test_float_pipeline_matches_onnxruntime(model):
    art = _build(model, kxk="float", pointwise="float", act_bits=None)
    want = model[1]
    got = art.run(X)[0]
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert {r["kind"] for r in art.layers} <= {"float_conv", "other"}


def test_default_lowbit_roles_formats_and_bit_exact(model):
    art = _build(model)
    rows = {r["name"]: r for r in art.layers}
    expect = {"stem": ("first", "float_conv"), "dw": ("depthwise", "int8_conv"),
              "se.fc1": ("squeeze_excite", "int8_conv"), "se.fc2": ("squeeze_excite", "int8_conv"),
              "project": ("pointwise", "int8_conv"), "branch.3x3": ("pattern", "binary_conv"),
              "tail.3x3": ("pattern", "binary_conv")}
    assert {n: (rows[n]["role"], rows[n]["kind"]) for n in expect} == expect
    assert [r["role"] for r in art.layers if r["kind"] == "other"].count("dense") == 1
    assert art.check(X)["bit_exact"]


@pytest.mark.parametrize("act_bits", [2, 8])
def test_every_layer_bit_exact(model, act_bits):
    rows = _build(model, act_bits=act_bits, probe_layers=True).check_layers(X)
    assert len(rows) == 7 and all(r["bit_exact"] for r in rows), rows


def test_dense_int8_is_a_1x1_layer(model):
    art = _build(model, dense="int8")
    fc = next(r for r in art.layers if r["name"] == "fc")
    assert (fc["role"], fc["kind"], fc["in_shape"]) == ("dense", "int8_conv", [1, 20, 1, 1])
    assert not any(r["role"] == "dense" and r["kind"] == "other" for r in art.layers)
    assert art.meta["config"]["dense"] == "int8" and art.check(X)["bit_exact"]


@pytest.mark.parametrize("depthwise,kind", [("binary", "binary_conv"), ("float", "float_conv")])
def test_depthwise_options(model, depthwise, kind):
    art = _build(model, depthwise=depthwise)
    assert next(r for r in art.layers if r["name"] == "dw")["kind"] == kind
    assert art.meta["config"]["depthwise"] == depthwise
    assert art.check(X)["bit_exact"]
