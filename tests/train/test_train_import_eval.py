"""Short training (both procedures) -> QONNX -> import -> compile -> eval (issue 17's CI check).

The trainer's model is run by qonnx's executor; the compiled artifact must give the same top-1 class
on the evaluated digits test images and an accuracy well above chance (10 %)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("brevitas")
pytest.importorskip("qonnx")
pytest.importorskip("sklearn")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = 120


def _eval(path, tmp_path, *extra):
    proc = subprocess.run([sys.executable, "-m", "tvm_sepnet", "eval", path, "--dataset", "digits", "--limit",
                           str(IMAGES), "--png", str(tmp_path / "cm.png"), "--json", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("procedure, config", [("qat", "kxk-bin+pw8+a4"), ("seed", "kxk-bin")])
def test_short_training_compiles_and_agrees_with_qonnx_executor(tmp_path, procedure, config):
    from tvm_sepnet.train.cli import train_and_export

    path = str(tmp_path / f"{procedure}.onnx")
    res = train_and_export(procedure, config, 0, path, float_epochs=3, epochs=1)
    assert res["accuracy"] > 0.5
    out = _eval(path, tmp_path)
    assert out["trainer_executor"] == "qonnx executor"
    assert out["trainer_layers"] >= 4  # the trainer's quantizers reached the compiler
    agree = out["agreement"]["compiled_vs_trainer"]["identical_predictions"]
    assert agree >= 0.995, out
    assert out["agreement"]["compiled_vs_reference"]["max_abs_diff"] < 1e-4
    assert out["accuracy"]["compiled"] > 0.5
    # the torch model, qonnx's executor and the compiled model agree on the accuracy of the same images
    assert abs(out["accuracy"]["compiled"] - out["accuracy"]["trainer"]) <= 1 / IMAGES
    assert os.path.getsize(tmp_path / "cm.png") > 1000


def test_training_is_deterministic_for_a_seed():
    import torch

    from tvm_sepnet.train import seed_procedure
    from tvm_sepnet.train.data import digits
    from tvm_sepnet.train.fit import seeded

    torch.set_num_threads(1)
    data = digits()
    a = seed_procedure.train_float(data, seeded(3), epochs=1, subset=128).state_dict()
    b = seed_procedure.train_float(data, seeded(3), epochs=1, subset=128).state_dict()
    c = seed_procedure.train_float(data, seeded(4), epochs=1, subset=128).state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not all(np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)


def test_tvm_sepnet_imports_without_train_extra():
    code = "import sys; sys.modules['torch'] = None; sys.modules['brevitas'] = None; import tvm_sepnet, tvm_sepnet.cli"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
