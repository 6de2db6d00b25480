"""Artifact folders that ``load`` must refuse with a clear error: another format version, no metadata."""
import json

import numpy as np
import onnx
import pytest

import tvm_sepnet
from tests.onnx_models import foreign_model
from tvm_sepnet.artifact import ARTIFACT_FORMAT, META_JSON
from tvm_sepnet.cli import main
from tvm_sepnet.errors import SepnetError
from tvm_sepnet.frontend import load_onnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmt")
    onnx.save(foreign_model(), str(root / "m.onnx"))
    model = load_onnx(str(root / "m.onnx"))
    path = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, act_bits=4).export(str(root / "art"))
    np.save(root / "x.npy", np.zeros((1, 3, 32, 32), np.float32))
    return path, str(root / "x.npy")


def _set_format(path, value):
    meta_path = f"{path}/{META_JSON}"
    meta = json.load(open(meta_path, encoding="utf-8"))
    meta["format"] = value
    json.dump(meta, open(meta_path, "w", encoding="utf-8"))


@pytest.mark.parametrize("value", [ARTIFACT_FORMAT + 1, None])
def test_another_format_version_is_refused(exported, tmp_path, capsys, value):
    import shutil

    path, x = exported
    assert main(["run", path, "--input", x]) == 0  # the unchanged folder loads and runs
    copy = str(tmp_path / "other")
    shutil.copytree(path, copy)
    _set_format(copy, value)
    with pytest.raises(SepnetError, match=f"artifact format {value} is not supported \\(expected {ARTIFACT_FORMAT}\\)"):
        tvm_sepnet.load(copy)
    capsys.readouterr()
    assert main(["run", copy, "--input", x]) == 2
    assert f"artifact format {value} is not supported" in capsys.readouterr().err


def test_a_folder_without_metadata_is_refused(tmp_path):
    with pytest.raises(SepnetError, match="is not a tvm-sepnet artifact \\(no meta.json\\)"):
        tvm_sepnet.load(str(tmp_path))
