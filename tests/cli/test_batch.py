"""Batch: ``compile --batch N`` builds a real batch-N module whose outputs equal N batch-1 runs bit for
bit and match the reference executor; an ONNX model with a symbolic batch dimension compiles once
and runs (and is checked against the reference executor at) any number of images (tvm_sepnet.batching)."""
import json

import numpy as np
import pytest

import tvm_sepnet
from tvm_sepnet.batching import split_batches
from tvm_sepnet.cli import main
from tvm_sepnet.errors import InputMismatchError, InvalidModelError
from tvm_sepnet.frontend import load_model
from tvm_sepnet.models import get_model, save_onnx

SMALL = {"image_size": 32, "num_classes": 10}


def _images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype("float32")


@pytest.fixture(scope="module")
def batch1():
    lm = load_model("sepnet-bq", **SMALL)
    return tvm_sepnet.build(lm.mod, "x86", any_batch=lm.any_batch, **lm.config)


@pytest.fixture(scope="module")
def symbolic_onnx(tmp_path_factory):
    """The zoo network as ONNX with the batch dimension of its input and output named ``N``."""
    import onnx

    path = save_onnx(get_model("sepnet-bq", seed=0, **SMALL), str(tmp_path_factory.mktemp("onnx") / "bq.onnx"),
                     dynamic_batch=True)
    assert onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    return path


def test_batch_n_module_equals_n_batch_1_runs(batch1):
    lm = load_model("sepnet-bq", batch=4, **SMALL)
    art = tvm_sepnet.build(lm.mod, "x86", any_batch=lm.any_batch, **lm.config)
    assert art.input_specs[0]["shape"] == [4, 3, 32, 32] and art.meta["batch"] == 4 and art.meta["any_batch"]
    x = _images(4)
    got = art.run(x)[0]
    singles = np.concatenate([batch1.run(x[i:i + 1])[0] for i in range(4)])
    assert got.shape == (4, 10) and np.array_equal(got, singles)
    res = art.check(x)
    assert res["bit_exact"], res["max_abs_err"]
    # any N on the batch-4 module: chunks of 4, the last padded; the batch-1 artifact runs N images too
    x7 = _images(7, seed=1)
    out7 = art.run(x7)[0]
    assert np.array_equal(out7, batch1.run(x7)[0]) and np.array_equal(out7[:4], art.run(x7[:4])[0])
    assert art.check(x7)["bit_exact"]


def _cli(capsys, *args) -> dict:
    """The command line in this process (``--json``): its result; exit status 0 asserted."""
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_symbolic_batch_onnx_runs_any_n(symbolic_onnx, tmp_path, capsys):
    out = str(tmp_path / "dyn")
    compiled = _cli(capsys, "compile", symbolic_onnx, "-o", out)
    assert compiled["batch"] == 1 and compiled["any_batch"] is True
    images = _images(8, seed=5)
    ys = {}
    for n in (1, 3, 8):
        x = tmp_path / f"x{n}.npy"
        np.save(x, images[:n])
        ran = _cli(capsys, "run", out, "--input", str(x), "--check", "--output", str(tmp_path / f"y{n}.npy"))
        assert ran["match"] and ran["bit_exact"] and ran["output_shapes"] == [[n, 10]], ran
        ys[n] = np.load(tmp_path / f"y{n}.npy")
    # the first images of a larger batch compute exactly what they compute in a smaller one
    assert np.array_equal(ys[3][:1], ys[1]) and np.array_equal(ys[8][:3], ys[3])


def test_batch_errors(tmp_path, batch1):
    import onnx

    fixed = save_onnx(get_model("sepnet-bq", seed=0, **SMALL), str(tmp_path / "fixed.onnx"))
    assert onnx.load(fixed).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    with pytest.raises(InvalidModelError, match="fixed batch dimension 1.*--batch 2"):
        load_model(fixed, batch=2)
    assert not load_model(fixed).any_batch  # a fixed batch: only that batch runs
    with pytest.raises(InputMismatchError, match="expected shape"):
        batch1.run(_images(2)[:, :, :16])  # other image sizes stay errors
    chunks = split_batches({"input": _images(5)}, [{"name": "input", "shape": [2, 3, 32, 32]}])
    assert [c["input"].shape[0] for c in chunks] == [2, 2, 2] and np.array_equal(chunks[2]["input"][1], _images(5)[4])


def test_bench_batch_arguments_are_checked(capsys):
    from tvm_sepnet.bench.throughput import bench_throughput
    from tvm_sepnet.errors import SepnetError

    with pytest.raises(SepnetError, match="needs 1 thread"):
        bench_throughput(threads=2, clock="thread")
    assert main(["bench", "--batch", "1,x"]) == 2 and "batch sizes separated by commas" in capsys.readouterr().err
    assert main(["bench", "--batch", "0"]) == 2 and "must be >= 1" in capsys.readouterr().err
