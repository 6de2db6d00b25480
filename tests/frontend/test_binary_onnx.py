"""ONNX binary activations: QONNX BipolarQuant (activations and weights) and the Sign -> Conv pattern
become sign layers (XOR + popcount); outputs against onnxruntime (Sign) and against a numpy model of the
QONNX semantics written here (onnxruntime cannot run QONNX custom ops)."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import tvm_sepnet
from tvm_sepnet.frontend import load_model

RNG = np.random.default_rng(3)
C, O, H = 8, 16, 10  # noqa: E741 - channels in / out, size


def _conv_weights(alpha_per_channel=True):
    w = RNG.standard_normal((O, C, 3, 3)).astype(np.float32)
    alpha = np.abs(w).reshape(O, -1).mean(axis=1).astype(np.float32)
    return w, alpha


def _model(nodes, inits, opsets):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, H])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, O, H, H])], initializer=inits)
    return helper.make_model(graph, opset_imports=opsets)


def _layers(path):
    model = load_model(str(path))
    art = tvm_sepnet.build(model.mod, "x86", kxk="float", pointwise="float", act_bits=None)
    return art, {r["name"]: r for r in art.layers}


def test_sign_conv_matches_onnxruntime(tmp_path):
    w, alpha = _conv_weights()
    wb = (np.where(w >= 0, 1.0, -1.0) * alpha[:, None, None, None]).astype(np.float32)  # dynamo exports: folded
    bias = RNG.standard_normal(O).astype(np.float32)
    nodes = [helper.make_node("Sign", ["x"], ["s"]), helper.make_node("Conv", ["s", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    m = _model(nodes, [numpy_helper.from_array(wb, "w"), numpy_helper.from_array(bias, "b")], [helper.make_opsetid("", 17)])
    path = tmp_path / "sign.onnx"
    onnx.save(m, path)
    art, layers = _layers(path)
    assert [r["kernel"].split(":")[0] for r in layers.values() if r["kind"] == "binary_conv"] == ["xnor"]
    x = RNG.standard_normal((1, C, H, H)).astype(np.float32)  # no exact zeros: ONNX Sign(0) = 0, ours +1
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(art.run(x)[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(art.run(x)[0], art.reference().run(x)[0])


def _qonnx_bipolar(v, s):
    """QONNX BipolarQuant: (v >= 0 ? +1 : -1) * s (its spec)."""
    return np.where(v >= 0, 1.0, -1.0).astype(np.float32) * s


def test_bipolar_quant_on_activations_and_weights(tmp_path):
    w, alpha = _conv_weights()
    s_act = np.float32(0.75)
    gamma, beta = RNG.uniform(0.5, 1.5, O).astype(np.float32), RNG.normal(0, 0.1, O).astype(np.float32)
    mean, var = RNG.normal(0, 1, O).astype(np.float32), RNG.uniform(0.5, 2, O).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(alpha.reshape(O, 1, 1, 1), "sw"),
             numpy_helper.from_array(np.array(s_act, np.float32), "sa")]
    inits += [numpy_helper.from_array(v, k) for k, v in (("g", gamma), ("bt", beta), ("mu", mean), ("var", var))]
    q = "qonnx.custom_op.general"
    nodes = [helper.make_node("BipolarQuant", ["x", "sa"], ["xq"], domain=q),
             helper.make_node("BipolarQuant", ["w", "sw"], ["wq"], domain=q),
             helper.make_node("Conv", ["xq", "wq"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "bt", "mu", "var"], ["y"], epsilon=1e-5)]
    m = _model(nodes, inits, [helper.make_opsetid("", 17), helper.make_opsetid(q, 2)])
    path = tmp_path / "bipolar.onnx"
    onnx.save(m, path)
    art, layers = _layers(path)
    assert any(r["kernel"].startswith("xnor:") for r in layers.values())
    x = RNG.standard_normal((1, C, H, H)).astype(np.float32)
    x[0, 0, 0, :2] = 0.0  # BipolarQuant maps 0 to +1, as the sign layer
    xq = _qonnx_bipolar(x, s_act).astype(np.float64)
    wq = _qonnx_bipolar(w, alpha.reshape(O, 1, 1, 1)).astype(np.float64)
    xp = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((1, O, H, H))
    for ky in range(3):
        for kx in range(3):
            conv += np.einsum("nchw,oc->nohw", xp[:, :, ky:ky + H, kx:kx + H], wq[:, :, ky, kx])
    want = (conv - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5) * gamma[None, :, None, None] \
        + beta[None, :, None, None]
    np.testing.assert_allclose(art.run(x)[0], want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(art.run(x)[0], art.reference().run(x)[0])
