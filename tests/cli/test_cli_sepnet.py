"""The CLI end to end on the real SEP-Net at 224×224: compile, run --check --json, inspect, export-onnx."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "tvm_sepnet", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"tvm-sepnet {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli_json(*args, check=True):
    proc = cli(*args, "--json", check=check)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


@pytest.fixture(scope="module")
def x224(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype("float32"))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sepnet-bq", "sepnet-b", "sepnet-r"])
def test_compile_run_check(tmp_path, x224, model):
    out = str(tmp_path / model)
    compiled, _ = cli_json("compile", model, "--target", "x86", "-o", out)
    kinds = {r["kind"] for r in compiled["layers"]}
    expected = {"sepnet-bq": {"binary_conv", "int8_conv", "float_conv"},
                "sepnet-b": {"binary_weight_conv", "float_conv"},
                "sepnet-r": {"float_conv"}}[model]
    assert expected <= kinds, kinds
    ran, _ = cli_json("run", out, "--input", x224, "--check")
    assert ran["match"] is True, ran
    assert ran["max_rel_err"] <= 1e-5
    if model == "sepnet-bq":  # integer pipeline, exact float64 pooling: equal to the reference bit for bit
        assert ran["bit_exact"] is True, ran
    inspected, _ = cli_json("inspect", out)
    assert inspected["weight_bytes_total"] == compiled["weight_bytes_total"]
    # stored weights within 2 % of the theoretical 1 bit per k×k weight + 8 per 1×1 weight + scales
    total, theory = compiled["weight_bytes_total"], compiled["weight_bytes_theoretical"]
    assert abs(total - theory) <= 0.02 * theory, (total, theory)


def test_export_onnx_and_errors(tmp_path):
    path = str(tmp_path / "sq.onnx")
    res, _ = cli_json("export-onnx", "squeezenet1.1", "-o", path, "--image-size", "64")
    assert os.path.getsize(path) > 4 * 1_000_000 and res["params"] > 1_000_000
    err, proc = cli_json("compile", "no-such-net", "-o", str(tmp_path / "x"), check=False)
    assert proc.returncode == 2 and "sepnet-bq" in err["error"]
    err, proc = cli_json("compile", "sepnet-r", "--target", "vax", "-o", str(tmp_path / "x"), check=False)
    assert proc.returncode == 2 and "known targets" in err["error"]
    err, proc = cli_json("inspect", str(tmp_path), check=False)
    assert proc.returncode == 2 and "not a tvm-sepnet artifact" in err["error"]


def test_run_wrong_input_shape(tmp_path):
    out = str(tmp_path / "small")
    cli("compile", "sepnet-bq", "--image-size", "64", "--num-classes", "10", "-o", out)
    bad = str(tmp_path / "bad.npy")
    np.save(bad, np.zeros((1, 3, 32, 32), "float32"))
    err, proc = cli_json("run", out, "--input", bad, check=False)
    assert proc.returncode == 2 and "expected shape (1, 3, 64, 64)" in err["error"]
    good = str(tmp_path / "good.npy")
    np.save(good, np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype("float32"))
    ran, _ = cli_json("run", out, "--input", good, "--check")
    assert ran["match"] is True and ran["output_shapes"] == [[1, 10]]


@pytest.mark.slow
def test_bench_quick_writes_valid_json(tmp_path):
    """CI smoke of the benchmark suite: it runs and writes well-formed results (timings are not judged)."""
    res, _ = cli_json("bench", "--quick", "-o", str(tmp_path), "--no-plot")
    saved = json.load(open(tmp_path / "bench.json"))
    assert saved["quick"] is True and saved["layers"] and saved["end_to_end"]
    for row in saved["layers"]:
        assert all(v > 0 for k, v in row.items() if k.endswith("_ms"))
    assert saved["peaks"]["popcount"] > 0 and saved["peaks"]["int16_mac"] > 0
    e2e = saved["end_to_end"]
    assert {"ort_fp32_ms", "ort_int8_qdq_ms", "sepnet_bq_a2_ms"} <= set(e2e)


def test_models_lists_counts():
    res, _ = cli_json("models")
    assert 1.2e6 <= res["models"]["sepnet-bq"]["params"] <= 1.35e6
    assert res["models"]["sepnet-bq"]["config"] == {"kxk": "binary", "pointwise": "int8", "act_bits": 4}
    assert set(res["models"]) == {"sepnet-r", "sepnet-b", "sepnet-bq", "squeezenet1.1", "mobilenet-0.5", "quicknet", "birealnet"}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["quicknet", "birealnet"])
def test_fully_binary_zoo_compile_run_check(tmp_path, x224, model):
    """`tvm-sepnet compile quicknet` (no TensorFlow involved) at 224x224: 16 sign layers on XOR + popcount
    kernels, run --check within float32 rounding of the reference executor."""
    out = str(tmp_path / model)
    compiled, _ = cli_json("compile", model, "--target", "x86", "-o", out)
    assert sum(r["kernel"].startswith("xnor:") for r in compiled["layers"]) == 16
    res, _ = cli_json("run", out, "--input", x224, "--check")
    assert res["match"] and res["output_shapes"] == [[1, 1000]]


def test_unsupported_tflite_exits_2(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\x00" * 4 + b"TFL3" + b"\x00" * 8)
    proc = cli("compile", str(bad), "-o", str(tmp_path / "m"), check=False)
    assert proc.returncode == 2 and "TFLite" in proc.stderr and "Traceback" not in proc.stderr
