"""Trained low-bit ONNX files that tvm-sepnet cannot honour: a clear error naming the node, op and
attribute, exit status 2 from ``tvm-sepnet compile`` (tvm_sepnet/frontend/onnx_quantizers.py); and a
hand-written QONNX / QDQ conv that it can, checked against qonnx's executor and onnxruntime."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QD = "qonnx.custom_op.general"


def _qonnx_conv(path, w_scale=0.05, a_scale=0.1, a_bits=4, w_bits=8, zero=0.0, signed_act=0, narrow_act=0,
                rounding="ROUND", extra_consumer=False, trunc=False, binary=False):
    """x -> Relu -> Quant(act) -> Conv(Quant(W) or BipolarQuant(W)) -> y (1x8x6x6 -> 1x8x6x6, 3x3 g1)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 8, 3, 3)).astype(np.float32) * 0.2
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.float32(a_scale), "as"),
             numpy_helper.from_array(np.float32(zero), "z"), numpy_helper.from_array(np.float32(a_bits), "ab"),
             numpy_helper.from_array(np.full((8, 1, 1, 1), w_scale, np.float32), "ws"),
             numpy_helper.from_array(np.float32(w_bits), "wb"), numpy_helper.from_array(np.float32(0), "z0")]
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Quant", ["r", "as", "z", "ab"], ["rq"], name="act_quant", domain=QD,
                              signed=signed_act, narrow=narrow_act, rounding_mode=rounding)]
    if binary:
        nodes.append(helper.make_node("BipolarQuant", ["W", "ws"], ["Wq"], name="w_quant", domain=QD))
    else:
        nodes.append(helper.make_node("Quant", ["W", "ws", "z0", "wb"], ["Wq"], name="w_quant", domain=QD,
                                      signed=1, narrow=1, rounding_mode="ROUND"))
    nodes.append(helper.make_node("Conv", ["rq", "Wq"], ["y"], name="conv", pads=[1, 1, 1, 1]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])]
    if extra_consumer:
        nodes.append(helper.make_node("Add", ["rq", "rq"], ["y2"], name="add"))
        outputs.append(helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 8, 6, 6]))
    if trunc:
        nodes.insert(0, helper.make_node("Trunc", ["x", "as", "z0", "ab", "ab"], ["xt"], name="trunc", domain=QD))
        nodes[1].input[0] = "xt"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(QD, 1)])
    onnx.save(model, path)
    return path


def _compile(path, tmp_path):
    return subprocess.run([sys.executable, "-m", "tvm_sepnet", "compile", path, "-o", str(tmp_path / "art")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kwargs, words", [
    ({"w_scale": 0.0}, ["w_quant", "Quant", "scale", "zero, negative or non-finite"]),
    ({"a_scale": -0.1}, ["act_quant", "Quant", "scale"]),
    ({"a_scale": float("nan")}, ["act_quant", "scale", "non-finite"]),
    ({"a_bits": 9}, ["act_quant", "bitwidth", "1..8"]),
    ({"w_bits": 0}, ["w_quant", "bitwidth", "1..8"]),
    ({"zero": 3.0}, ["act_quant", "zeropt", "nonzero zero points"]),
    ({"signed_act": 1}, ["act_quant", "narrow", "signed activations"]),
    ({"rounding": "FLOOR"}, ["act_quant", "rounding_mode", "FLOOR"]),
    ({"extra_consumer": True}, ["act_quant", "Add", "data"]),
    ({"trunc": True}, ["trunc", "Trunc", "not supported"]),
])
def test_unsupported_quantizer_is_a_clear_error_with_exit_2(tmp_path, capsys, kwargs, words):
    from tvm_sepnet.cli import main

    path = _qonnx_conv(str(tmp_path / "m.onnx"), **kwargs)
    assert main(["compile", path, "-o", str(tmp_path / "art")]) == 2  # the CLI's entry point, in process
    msg = capsys.readouterr().err
    assert msg.startswith("tvm-sepnet: error: m.onnx: ONNX node"), msg
    for w in words:
        assert w in msg, msg


def _qdq_conv(path, zp_q=0, zp_dq=0):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 8, 1, 1)).astype(np.float32)
    ws = (np.abs(w).reshape(8, -1).max(axis=1) / 127).astype(np.float32)
    wq = np.clip(np.rint(w / ws.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    inits = [numpy_helper.from_array(wq, "Wq"), numpy_helper.from_array(ws, "ws"),
             numpy_helper.from_array(np.zeros(8, np.int8), "wz"),
             numpy_helper.from_array(np.float32(0.02), "as"), numpy_helper.from_array(np.uint8(zp_q), "azq"),
             numpy_helper.from_array(np.uint8(zp_dq), "azd")]
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("QuantizeLinear", ["r", "as", "azq"], ["rq"], name="ql"),
             helper.make_node("DequantizeLinear", ["rq", "as", "azd"], ["rd"], name="dql"),
             helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["W"], name="wdq", axis=0),
             helper.make_node("Conv", ["rd", "W"], ["y"], name="conv")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 5, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_mismatched_qdq_zero_points_exit_2(tmp_path):
    """A real process: exit status 2, no traceback."""
    proc = _compile(_qdq_conv(str(tmp_path / "q.onnx"), zp_q=0, zp_dq=3), tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "dql" in proc.stderr and "zero" in proc.stderr


@pytest.mark.slow
def test_qdq_conv_matches_onnxruntime(tmp_path):
    """Per-axis int8 weights and uint8 activations from QDQ: the compiled layer computes what onnxruntime
    computes on the QDQ graph (same codes, same scales; 1-ulp rounding of the float epilogue)."""
    ort = pytest.importorskip("onnxruntime")
    from tvm_sepnet.builder import build
    from tvm_sepnet.frontend import load_onnx

    path = _qdq_conv(str(tmp_path / "q.onnx"))
    loaded = load_onnx(path)
    assert loaded.quantizers["conv"]["weight"] == "int"
    assert loaded.quantizers["conv"]["act"] == {"kind": "uint", "bits": 8, "scale": pytest.approx(0.02)}
    art = build(loaded.mod, "x86", layer_names=loaded.layer_names, quantizers=loaded.quantizers)
    assert art.layers[0]["kind"] == "int8_conv"
    x = np.random.default_rng(2).normal(size=(1, 8, 5, 5)).astype(np.float32) * 2
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = art.run({"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("binary", [False, True])
def test_qonnx_conv_matches_qonnx_executor(tmp_path, binary):
    """4-bit unsigned activations into an int8 (or binary) 3x3 conv: compiled == qonnx's executor."""
    pytest.importorskip("qonnx")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    from tvm_sepnet.builder import build
    from tvm_sepnet.frontend import load_onnx

    path = _qonnx_conv(str(tmp_path / "m.onnx"), binary=binary)
    loaded = load_onnx(path)
    assert loaded.quantizers["conv"]["weight"] == ("binary" if binary else "int")
    art = build(loaded.mod, "x86", layer_names=loaded.layer_names, quantizers=loaded.quantizers)
    assert art.layers[0]["kind"] == ("binary_conv" if binary else "int8_conv")
    qm = cleanup_model(ModelWrapper(path))
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(1, 8, 6, 6)).astype(np.float32)
        want = execute_onnx(qm, {qm.graph.input[0].name: x})[qm.graph.output[0].name]
        got = art.run({"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_compile_options_that_would_replace_the_trainers_quantizers_are_refused(tmp_path, capsys):
    from tvm_sepnet.cli import main

    path = _qonnx_conv(str(tmp_path / "m.onnx"))
    assert main(["compile", path, "--act-bits", "2", "--kxk", "float", "-o", str(tmp_path / "art")]) == 2
    msg = capsys.readouterr().err
    assert "trainer's quantizers (1 layers)" in msg and "--kxk, --act-bits do not apply" in msg, msg
