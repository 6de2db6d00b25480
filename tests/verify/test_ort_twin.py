"""The ONNX twin oracle itself (tvm_sepnet.verify): independent of the compiler, its weight unpacking
and quantizer follow docs/numerics.md, its graph translation agrees with onnxruntime on the original
ONNX file, and its check rejects a wrong layer output."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from relay_passes.pipeline import CompileConfig, run_pipeline
from tests.onnx_models import binarize_kxk_in_onnx, foreign_model, run_onnxruntime
from tests.test_structure import import_graph
from tvm_sepnet.errors import InputMismatchError, UnsupportedOpError
from tvm_sepnet.frontend import load_onnx
from tvm_sepnet.verify import build_twin, check_with_twin, run_twin
from tvm_sepnet.verify.contract import unpack_signs

COMPILER = ("schedules", "relay_passes", "tvm_sepnet.builder", "tvm_sepnet.reference", "tvm_sepnet.artifact", "tvm")


def test_the_twin_imports_nothing_of_the_compiler():
    """Statically (every import of every tvm_sepnet.verify module) and at run time (what importing it
    loads): no compiler module, no reference executor, no TVM."""
    graph = import_graph()
    deps = {d for m, ds in graph.items() if m == "tvm_sepnet.verify" or m.startswith("tvm_sepnet.verify.") for d in ds}
    assert deps <= {"tvm_sepnet", "tvm_sepnet.errors"} | {m for m in graph if m.startswith("tvm_sepnet.verify")}, deps
    code = ("import sys, tvm_sepnet.verify; "
            f"bad = sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {COMPILER!r})); "
            "print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _pack_by_loops(signs: np.ndarray, dtype) -> np.ndarray:
    """docs/numerics.md, written as loops: bit j of word kc is 1 iff channel kc*P + j has sign +1."""
    pbits = np.dtype(dtype).itemsize * 8
    o, cg, kh, kw = signs.shape
    kc_n = -(-cg // pbits)
    out = np.zeros((o, kc_n, kh, kw), dtype)
    for oi in range(o):
        for kc in range(kc_n):
            for ky in range(kh):
                for kx in range(kw):
                    word = 0
                    for j in range(pbits):
                        c = kc * pbits + j
                        if c < cg and signs[oi, c, ky, kx] > 0:
                            word |= 1 << j
                    out[oi, kc, ky, kx] = word
    return out


@pytest.mark.parametrize("dtype,cg", [("uint8", 8), ("uint8", 13), ("uint16", 16), ("uint32", 40), ("uint64", 64),
                                      ("uint64", 70)])
def test_unpack_signs_follows_the_documented_layout(dtype, cg):
    rng = np.random.default_rng(cg)
    signs = np.where(rng.random((3, cg, 3, 2)) < 0.5, -1.0, 1.0).astype(np.float32)
    np.testing.assert_array_equal(unpack_signs(_pack_by_loops(signs, dtype), cg), signs)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "foreign.onnx"
    onnx.save(foreign_model(), str(path))
    return str(path)


def _graph(path, **options):
    model = load_onnx(path)
    _, report = run_pipeline(model.mod, "x86", CompileConfig.of(layer_names=model.layer_names, **options),
                             until="fuse_epilogues")
    return report.graph, report.consts


def _layer(graph, consts, name):
    node = next(n for n in graph["nodes"] if n["op"] == "sepnet.conv2d" and n["attrs"]["name"] == name)
    return node, [consts[a["const"]] for a in node["args"][1:4]]


def test_stored_weights_decode_to_the_onnx_file_weights(foreign):
    """The compiler's stored weights, decoded by the twin, against the ONNX file's own initializers
    (batch norm folded here with numpy: W * g / sqrt(v + eps), g > 0): signs of the binary layer,
    int8 weights within half a step."""
    graph, consts = _graph(foreign, act_bits=4)
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in onnx.load(foreign).graph.initializer}

    def folded(name):
        k = inits[f"{name}.bn.g"] / np.sqrt(inits[f"{name}.bn.v"] + 1e-5)
        return inits[f"{name}.w"] * k.reshape(-1, 1, 1, 1)

    node, (wb, alpha, _) = _layer(graph, consts, "b2_3x3")
    w = folded("b2_3x3")
    np.testing.assert_array_equal(unpack_signs(wb, node["attrs"]["in_channels"] // node["attrs"]["groups"]),
                                  np.where(w >= 0, 1.0, -1.0))
    np.testing.assert_allclose(alpha, np.abs(w).reshape(w.shape[0], -1).mean(axis=1), rtol=1e-5)
    node, (wq, ws, _) = _layer(graph, consts, "b2_1x1")
    w = folded("b2_1x1")
    assert wq.dtype == np.int8 and np.all(np.abs(wq * ws.reshape(-1, 1, 1, 1) - w) <= ws.reshape(-1, 1, 1, 1) / 2 * 1.0001)


def test_free_running_twin_equals_onnxruntime_on_the_alpha_sign_model(foreign):
    """Float activations (no quantizer): the twin of the compiler's graph is the ONNX file with k×k
    weights alpha·sign(W); onnxruntime on that file agrees within float32 rounding. This checks the
    twin's translation of every other op (pooling, concat, mean, matmul, add) against the file."""
    graph, consts = _graph(foreign, kxk="binary", pointwise="float", act_bits=None)
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    (got,) = run_twin(graph, consts, {"image": x})
    want = run_onnxruntime(binarize_kxk_in_onnx(onnx.load(foreign)), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def _one_layer(act, wq=None, bias=0.0, channels=1):
    """A graph of one 1×1 int8 conv layer on a (1, C, 1, 8) input: with wq = identity the layer
    returns its dequantized input."""
    wq = np.eye(channels, dtype=np.int8).reshape(channels, channels, 1, 1) if wq is None else wq
    graph = {"inputs": [{"name": "x", "shape": [1, channels, 1, 8], "dtype": "float32"}], "outputs": ["y"],
             "nodes": [{"name": "y", "op": "sepnet.conv2d", "shape": [1, channels, 1, 8],
                        "args": [{"var": "x"}, {"const": "w"}, {"const": "s"}, {"const": "b"}],
                        "attrs": {"name": "only", "channels": channels, "in_channels": channels, "kernel": [1, 1],
                                  "strides": [1, 1], "padding": [0, 0, 0, 0], "dilation": [1, 1], "groups": 1,
                                  "relu": False, "weight_format": "int8", "act": act, "residual": False}}]}
    consts = {"w": wq, "s": np.ones(channels, np.float32), "b": np.full(channels, bias, np.float32)}
    return graph, consts


def test_quantizer_divides_by_scale_rounds_half_to_even_and_clips():
    x = np.array([0.25, 0.75, 1.25, -1.0, 10.0, 0.3, 0.5, 0.0], np.float32).reshape(1, 1, 1, 8)
    # x / 0.5 = 0.5, 1.5, 2.5, -2, 20, 0.6, 1, 0 -> half to even 0, 2, 2; clip to [0, 3]
    uint2 = {"kind": "uint", "bits": 2, "scale": 0.5, "inv_scale": 123.0}  # inv_scale is never read
    (y,) = run_twin(*_one_layer(uint2), {"x": x})
    np.testing.assert_array_equal(y.ravel(), np.array([0, 2, 2, 0, 3, 1, 1, 0], np.float32) * 0.5)
    int8 = {"kind": "int", "bits": 8, "scale": 0.5, "inv_scale": 2.0}
    (y,) = run_twin(*_one_layer(int8), {"x": x * -40})  # -20, -60, -100, 80, -800 -> clip -127
    np.testing.assert_array_equal(y.ravel(), np.array([-20, -60, -100, 80, -127, -24, -40, 0], np.float32) * 0.5)


def test_forced_check_counts_rounding_boundaries_and_rejects_a_wrong_layer():
    """Inputs a rounding boundary away (x / s = 0.5, 1.5, 2.5) may round the other way in the compiled
    model: the bound allows one step there and only float rounding elsewhere. The compiled value
    itself passes; one step off at a boundary passes; a tenth of a step off anywhere fails."""
    act = {"kind": "uint", "bits": 4, "scale": 0.5, "inv_scale": 2.0}
    graph, consts = _one_layer(act, bias=0.25)
    x = np.array([0.25, 0.75, 1.25, 0.3, 2.0, 0.0, 7.0, 3.1], np.float32).reshape(1, 1, 1, 8)
    exact = np.array([0, 2, 2, 1, 4, 0, 14, 6], np.float32).reshape(1, 1, 1, 8) * 0.5 + 0.25
    twin = build_twin(graph, consts, forced=True)
    got = twin.run({"x": x}, {"y": exact})
    (layer,) = twin.layers
    np.testing.assert_array_equal(got[layer["flips"]].ravel(), [1, 1, 1, 0, 0, 0, 0, 0])
    tol = got[layer["tolerance"]].ravel()
    assert np.all(tol[:3] >= 0.5) and np.all(tol[3:] < 1e-4)  # one step (0.5) vs float rounding
    assert check_with_twin(graph, consts, {"x": x}, [exact], {"y": exact})["match"]
    flipped = exact.copy()
    flipped[0, 0, 0, 1] -= 0.5  # 1.5 rounded down: allowed
    assert check_with_twin(graph, consts, {"x": x}, [flipped], {"y": flipped})["match"]
    wrong = exact.copy()
    wrong[0, 0, 0, 4] += 0.05
    res = check_with_twin(graph, consts, {"x": x}, [wrong], {"y": wrong})
    assert not res["match"] and res["layers"][0]["violations"] == 1 and res["layers"][0]["name"] == "only"


def test_wrong_inputs_are_named():
    graph, consts = _one_layer({"kind": "float"})
    with pytest.raises(InputMismatchError, match=r"input 'x': expected shape \(1, 1, 1, 8\) dtype float32, got shape \(1, 8\)"):
        run_twin(graph, consts, {"x": np.zeros((1, 8), np.float32)})
    with pytest.raises(InputMismatchError, match="missing input"):
        check_with_twin(graph, consts, {"y": np.zeros((1, 1, 1, 8), np.float32)}, [], {})


def test_ops_without_a_bound_are_refused_in_the_forced_twin():
    graph, consts = _one_layer({"kind": "float"})
    graph["nodes"].append({"name": "z", "op": "sigmoid", "args": [{"var": "y"}], "attrs": {}, "shape": [1, 1, 1, 8]})
    graph["outputs"] = ["z"]
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(1, 1, 1, 8)
    (z,) = run_twin(graph, consts, {"x": x})
    np.testing.assert_allclose(z, 1 / (1 + np.exp(-x)), rtol=1e-6)
    with pytest.raises(UnsupportedOpError, match="'z'.*sigmoid.*no error bound"):
        build_twin(graph, consts, forced=True)
    graph["nodes"][-1]["op"] = "nn.batch_norm"
    with pytest.raises(UnsupportedOpError, match="'z'.*nn.batch_norm.*no ONNX twin"):
        build_twin(graph, consts)


def test_docs_state_the_tolerance():
    text = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "checks.md"), encoding="utf-8").read()
    assert "gamma(n + 16)" in text and "rounding boundar" in text
