"""The compiler's quantization parameters against the formulas of docs/numerics.md, written here in
float64: the integer epilogue's ``(acc + offset) * scale`` is ``acc * x_scale * w_scale + bias`` within
float32 rounding, ``inv_scale`` is the float32 reciprocal of ``scale``, and the published scales are
the calibrated ranges over the quantizer's largest code."""
import numpy as np
import onnx
import pytest

from relay_passes.pipeline import CompileConfig, run_pipeline
from relay_passes.quantize_activations import act_quantizer
from schedules.common import epilogue_params, integer_epilogue_np
from tests.onnx_models import foreign_model
from tvm_sepnet.frontend import load_onnx

U = 2.0 ** -24


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epilogue_identity(seed):
    """y = fl(fl(acc + fl(bias / S)) * S) with S = fl(x_scale * w_scale) is within 3u(1 + O(u)) of
    acc * x_scale * w_scale + bias relative to |acc * x_scale * w_scale| + |bias| (4u asserted);
    an all-zero filter (w_scale 0) gives the bias exactly."""
    rng = np.random.default_rng(seed)
    o = 96
    x_scale = np.float32(rng.uniform(1e-3, 2.0))
    w_scale = rng.uniform(1e-4, 1.0, o).astype(np.float32)
    w_scale[:4] = 0.0
    bias = (rng.standard_normal(o) * 10.0 ** rng.uniform(-3, 1, o)).astype(np.float32)
    acc = rng.integers(-20000, 20000, (2, o, 3, 5)).astype(np.int32)
    scale, offset = epilogue_params(x_scale, w_scale, bias)
    got = integer_epilogue_np(acc, scale, offset, relu=False).astype(np.float64)
    product = acc * np.float64(x_scale) * w_scale.astype(np.float64).reshape(1, -1, 1, 1)
    exact = product + bias.astype(np.float64).reshape(1, -1, 1, 1)
    bound = 4 * U * (np.abs(product) + np.abs(bias.astype(np.float64)).reshape(1, -1, 1, 1))
    assert np.all(np.abs(got - exact) <= bound), float(np.max(np.abs(got - exact) / np.maximum(bound, 1e-30)))
    np.testing.assert_array_equal(got[:, :4], np.broadcast_to(bias[:4].reshape(1, -1, 1, 1), got[:, :4].shape))


@pytest.mark.parametrize("kind,bits", [("uint", 1), ("uint", 2), ("uint", 4), ("uint", 8), ("int", 8)])
def test_inv_scale_is_the_float32_reciprocal_of_scale(kind, bits):
    rng = np.random.default_rng(bits)
    for lo, hi in zip(-rng.uniform(0, 5, 200) * (kind == "int"), rng.uniform(1e-3, 50, 200)):
        act = act_quantizer(kind, bits, lo, hi)
        assert np.float32(act["inv_scale"]) == np.float32(1.0) / np.float32(act["scale"]), act


@pytest.mark.parametrize("act_bits", [1, 4, 8])
def test_published_scales_follow_the_calibrated_ranges(tmp_path, act_bits):
    """Every quantized layer of a compiled graph: uint A-bit scale = hi / (2^A - 1), 8-bit int8-conv
    inputs hi / 255 (no negatives) or max(|lo|, |hi|) / 127, and inv_scale = 1 / scale."""
    path = str(tmp_path / "m.onnx")
    onnx.save(foreign_model(), path)
    model = load_onnx(path)
    _, report = run_pipeline(model.mod, "x86", CompileConfig.of(layer_names=model.layer_names, act_bits=act_bits),
                             until="fuse_epilogues")
    seen = 0
    for node in report.graph["nodes"]:
        if node["op"] != "sepnet.conv2d" or node["attrs"]["act"]["kind"] == "float":
            continue
        act, (lo, hi) = node["attrs"]["act"], report.ranges[node["attrs"]["name"]]
        bits = act_bits if node["attrs"]["weight_format"] == "binary" else 8
        assert act["bits"] == bits
        want = hi / (2 ** bits - 1) if act["kind"] == "uint" else max(abs(lo), abs(hi)) / 127
        assert act["kind"] == ("uint" if lo >= 0 or node["attrs"]["weight_format"] == "binary" else "int")
        assert np.float32(act["scale"]) == np.float32(want)
        assert np.float32(act["inv_scale"]) == np.float32(1.0) / np.float32(act["scale"])
        seen += 1
    assert seen == 6
