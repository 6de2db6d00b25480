"""Damaged artifact folders never crash: every file is checked against the SHA-256 in meta.json before it
is opened (a truncated model.so is an error naming it, exit 2, not a SIGBUS in dlopen), and a compile
killed mid-way never leaves a half artifact at -o (docs/design.md, "Artifact files")."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

import tvm_sepnet
from tests.onnx_models import foreign_model
from tvm_sepnet.artifact import GRAPH_JSON, GRAPH_NPZ, LIB_NAME, META_JSON
from tvm_sepnet.artifact_files import CorruptArtifactError, check_elf, sha256_file
from tvm_sepnet.cli import main
from tvm_sepnet.frontend import load_onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    onnx.save(foreign_model(), str(root / "m.onnx"))
    model = load_onnx(str(root / "m.onnx"))
    path = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, act_bits=4).export(str(root / "art"))
    np.save(root / "x.npy", np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32))
    return path, str(root / "x.npy"), str(root / "m.onnx")


def _copy(path, tmp_path, name="copy"):
    dst = str(tmp_path / name)
    shutil.copytree(path, dst)
    return dst


def _cli(argv, capsys):
    capsys.readouterr()
    code = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.err


def test_meta_lists_the_sha256_of_every_other_file(exported):
    path, x, _ = exported
    meta = json.load(open(os.path.join(path, META_JSON), encoding="utf-8"))
    names = sorted(f for f in os.listdir(path) if f != META_JSON)
    assert sorted(meta["files"]) == names == sorted([LIB_NAME, GRAPH_JSON, GRAPH_NPZ])
    for name in names:  # hashlib over the whole file, independently of the chunked reader
        import hashlib

        assert meta["files"][name] == hashlib.sha256(open(os.path.join(path, name), "rb").read()).hexdigest()
    res = tvm_sepnet.load(path).check(np.load(x))
    assert res["bit_exact"]


@pytest.mark.parametrize("name,damage", [(LIB_NAME, "truncate"), (LIB_NAME, "flip"), (GRAPH_NPZ, "flip"),
                                         (GRAPH_JSON, "truncate"), (LIB_NAME, "delete")])
def test_a_truncated_or_altered_file_is_an_error_naming_it(exported, tmp_path, capsys, name, damage):
    path, x, _ = exported
    copy = _copy(path, tmp_path)
    file = os.path.join(copy, name)
    if damage == "truncate":
        os.truncate(file, os.path.getsize(file) // 2)
    elif damage == "flip":
        data = bytearray(open(file, "rb").read())
        data[len(data) // 3] ^= 0x10
        open(file, "wb").write(bytes(data))
    else:
        os.unlink(file)
    with pytest.raises(CorruptArtifactError, match=f"artifact file '{file}' is (truncated or altered|missing)"):
        tvm_sepnet.load(copy)
    for argv in (["run", copy, "--input", x, "--check"], ["inspect", copy]):
        code, err = _cli(argv, capsys)
        assert code == 2 and f"artifact file '{file}'" in err


@pytest.mark.parametrize("text", [b'{"format": 1, "family": "x86", "tar', b"\xff\x00", b"[]", b'{"format": 1}'])
def test_a_damaged_meta_json_is_an_error_naming_it(exported, tmp_path, capsys, text):
    path, x, _ = exported
    copy = _copy(path, tmp_path)
    open(os.path.join(copy, META_JSON), "wb").write(text)
    code, err = _cli(["run", copy, "--input", x], capsys)
    assert code == 2 and f"artifact file '{os.path.join(copy, META_JSON)}' is damaged" in err


def test_a_truncated_library_is_exit_2_in_a_real_process_not_a_signal(exported, tmp_path):
    path, x, _ = exported
    copy = _copy(path, tmp_path)
    os.truncate(os.path.join(copy, LIB_NAME), os.path.getsize(os.path.join(copy, LIB_NAME)) // 2)
    proc = subprocess.run([sys.executable, "-m", "tvm_sepnet", "run", copy, "--input", x], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"artifact file '{os.path.join(copy, LIB_NAME)}' is truncated or altered" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_artifact_without_checksums_loads_with_a_warning(exported, tmp_path, capsys):
    path, x, _ = exported
    copy = _copy(path, tmp_path)
    meta_path = os.path.join(copy, META_JSON)
    meta = json.load(open(meta_path, encoding="utf-8"))
    del meta["files"]  # as written before checksums existed
    json.dump(meta, open(meta_path, "w", encoding="utf-8"))
    code, err = _cli(["run", copy, "--input", x, "--check"], capsys)
    assert code == 0 and "has no checksums" in err
    got = tvm_sepnet.load(copy).run(np.load(x))[0]
    want = tvm_sepnet.load(path).reference().run({"image": np.load(x)})[0]
    assert np.array_equal(got, want)
    lib = os.path.join(copy, LIB_NAME)  # no checksum, but a library cut short is still caught (ELF tables)
    os.truncate(lib, os.path.getsize(lib) - 100)
    with pytest.raises(CorruptArtifactError, match="model.so' is truncated"):
        check_elf(lib)
    code, err = _cli(["run", copy, "--input", x], capsys)
    assert code == 2 and f"artifact file '{lib}' is truncated" in err


def _kill_during_export(onnx_path, out, timeout=300.0) -> tuple[bool, int]:
    """Start `compile ONNX -o out` and SIGKILL it as soon as its temporary folder beside ``out`` appears
    (the export, the last step). Returns (killed mid-export, exit status)."""
    parent = os.path.dirname(out)
    proc = subprocess.Popen([sys.executable, "-m", "tvm_sepnet", "compile", onnx_path, "--act-bits", "4", "-o", out],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.time()
    try:
        while proc.poll() is None and time.time() - t0 < timeout:
            if glob.glob(os.path.join(parent, ".tmp-artifact-*")):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True, proc.returncode
            time.sleep(0.002)
        return False, proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_a_compile_killed_mid_way_leaves_no_half_artifact(exported, tmp_path):
    path, x, onnx_path = exported
    out = str(tmp_path / "out" / "art")
    os.makedirs(os.path.dirname(out))
    killed, code = _kill_during_export(onnx_path, out)
    assert killed and code == -signal.SIGKILL
    assert not os.path.exists(out)  # nothing at -o, only the temporary folder beside it
    # an existing artifact at -o survives a killed compile whole, and is still the same artifact
    shutil.copytree(path, out)
    before = {f: sha256_file(os.path.join(out, f)) for f in os.listdir(out)}
    killed, code = _kill_during_export(onnx_path, out)
    assert killed and code == -signal.SIGKILL
    assert {f: sha256_file(os.path.join(out, f)) for f in os.listdir(out)} == before
    assert tvm_sepnet.load(out).check(np.load(x))["bit_exact"]


def test_export_never_replaces_a_folder_that_is_not_an_artifact(exported, tmp_path, capsys):
    path, _, onnx_path = exported
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    code, err = _cli(["compile", onnx_path, "--act-bits", "4", "-o", str(other)], capsys)
    assert code == 2 and "is a folder that is not a tvm-sepnet artifact" in err
    assert (other / "keep.txt").read_text() == "mine" and sorted(os.listdir(other)) == ["keep.txt"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-artifact-")]
