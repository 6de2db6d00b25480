"""Bounded fuzz test of the importer and the loader (issue 19): several hundred seeded mutations of a tiny
ONNX model (dropped inputs, wrong shapes and dtypes, absurd attributes, cycles, huge dimensions,
truncations and bit flips), of an artifact folder (truncated, bit-flipped, emptied, deleted files) and of
a .npy input. Every case must end in a clear error (exit status 2, a one-line message, no traceback) or a
correct result (the compiled model matches the reference executor); never a signal, a hang or a Python
traceback.

Most cases run in this process through the command line's entry (``tvm_sepnet.cli.main``; an exception
other than SepnetError escaping it is what a user sees as a traceback); a handful run as real processes,
where a signal or a hang would show. Outcome counts are printed and written to ``fuzz_outcomes.json`` in
the test's temporary folder (docs/measurements.md, "Fuzz test")."""
import collections
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from tests.fuzz_cases import file_mutations, npy_mutations, onnx_mutations, tiny_model
from tvm_sepnet.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 19
N_ONNX, N_ARTIFACT, N_NPY = 150, 100, 100
pytestmark = pytest.mark.slow


def _cli(argv, capsys) -> tuple[str, str]:
    """(outcome, detail) of one in-process command: "error" (exit 2, a one-line message), "ok" (exit 0),
    "mismatch" (exit 1), or "crash" (anything else: an exception escaping main, another exit status)."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as err:  # argparse
        code = err.code
    except BaseException as err:  # noqa: BLE001 - what a user would see as a traceback
        capsys.readouterr()
        return "crash", f"{type(err).__name__}: {err}"[:300]
    cap = capsys.readouterr()
    if "Traceback" in cap.err:
        return "crash", cap.err[-300:]
    if code == 2:
        lines = [line for line in cap.err.splitlines() if line.startswith("tvm-sepnet: error: ")]
        return ("error", lines[0][:200]) if lines else ("crash", f"exit 2 without a message: {cap.err[-200:]}")
    if code == 0:
        return "ok", cap.out
    if code == 1:
        return "mismatch", cap.out[-300:]
    return "crash", f"exit {code}: {cap.err[-300:]}"


def _check_run(art, npy, capsys) -> tuple[str, str]:
    """run --check: a result counts as correct only if it matches the reference executor."""
    outcome, detail = _cli(["run", art, "--input", npy, "--check", "--json"], capsys)
    if outcome == "ok":
        res = json.loads(detail.strip().splitlines()[-1])
        return ("correct", "") if res["match"] else ("crash", f"outputs do not match the reference: {res}")
    return outcome, detail


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    model = tiny_model()
    onnx.save(model, str(root / "tiny.onnx"))
    x = np.random.default_rng(SEED).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(root / "x.npy", x)
    assert main(["compile", str(root / "tiny.onnx"), "--act-bits", "4", "-o", str(root / "art")]) == 0
    return root, model, x


def test_fuzz_inputs(base, tmp_path, capsys):
    root, model, x = base
    rng = np.random.default_rng(SEED)
    counts, crashes, t0 = collections.Counter(), [], time.time()

    def record(label, outcome, detail):
        counts[(label.split("/")[0], "correct result" if outcome == "correct" else
                "clear error (exit 2)" if outcome == "error" else "anything else")] += 1
        if outcome not in ("correct", "error"):
            crashes.append((label, outcome, detail))

    # ONNX models: compile; a model that imports is compiled and its run checked against the reference
    for label, data in onnx_mutations(model, rng, N_ONNX):
        path = str(tmp_path / "m.onnx")
        open(path, "wb").write(data)
        out = str(tmp_path / "m_art")
        shutil.rmtree(out, ignore_errors=True)
        outcome, detail = _cli(["compile", path, "--act-bits", "4", "-o", out], capsys)
        if outcome == "ok":
            specs = json.load(open(os.path.join(out, "graph.json"), encoding="utf-8"))["inputs"]
            xin = str(tmp_path / "m_x.npy")
            np.save(xin, np.random.default_rng(0).standard_normal(specs[0]["shape"]).astype(specs[0]["dtype"]))
            outcome, detail = _check_run(out, xin, capsys)
        record(label, outcome, detail)

    # artifact files: run --check on a damaged copy of the artifact
    for label, change in file_mutations(str(root / "art"), rng, N_ARTIFACT):
        art = str(tmp_path / "art")
        shutil.rmtree(art, ignore_errors=True)
        shutil.copytree(root / "art", art)
        for name, data in change.items():
            if data is None:
                os.unlink(os.path.join(art, name))
            else:
                open(os.path.join(art, name), "wb").write(data)
        record(label, *_check_run(art, str(root / "x.npy"), capsys))

    # .npy inputs
    for label, data in npy_mutations(x, rng, N_NPY):
        npy = str(tmp_path / "in.npy")
        open(npy, "wb").write(data)
        record(label, *_check_run(str(root / "art"), npy, capsys))

    # a handful as real processes: a signal or a hang shows only there
    procs = []
    lib = str(tmp_path / "sub_art")
    shutil.copytree(root / "art", lib)
    os.truncate(os.path.join(lib, "model.so"), os.path.getsize(os.path.join(lib, "model.so")) // 3)
    procs.append(("process/truncated_model_so", ["run", lib, "--input", str(root / "x.npy")]))
    flipped = str(tmp_path / "sub_flip")
    shutil.copytree(root / "art", flipped)
    data = bytearray(open(os.path.join(flipped, "model.so"), "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(os.path.join(flipped, "model.so"), "wb").write(bytes(data))
    procs.append(("process/bitflipped_model_so", ["run", flipped, "--input", str(root / "x.npy")]))
    cut = str(tmp_path / "cut.onnx")
    open(cut, "wb").write(model.SerializeToString()[:700])
    procs.append(("process/truncated_onnx", ["compile", cut, "-o", str(tmp_path / "never")]))
    bad_npy = str(tmp_path / "cut.npy")
    open(bad_npy, "wb").write(open(root / "x.npy", "rb").read()[:200])
    procs.append(("process/truncated_npy", ["run", str(root / "art"), "--input", bad_npy]))
    for label, argv in procs:
        try:
            proc = subprocess.run([sys.executable, "-m", "tvm_sepnet", *argv], capture_output=True, text=True,
                                  cwd=ROOT, timeout=120)
            ok = proc.returncode == 2 and "Traceback" not in proc.stderr and "tvm-sepnet: error: " in proc.stderr
            record(label, "error" if ok else "crash", f"exit {proc.returncode}: {proc.stderr[-300:]}")
        except subprocess.TimeoutExpired:
            record(label, "hang", "no exit within 120 s")

    seconds = time.time() - t0
    table = {f"{src}: {what}": n for (src, what), n in sorted(counts.items())}
    summary = {"seed": SEED, "cases": sum(counts.values()), "seconds": round(seconds, 1), "outcomes": table,
               "anything_else": [c[:2] + (c[2][:200],) for c in crashes]}
    (tmp_path / "fuzz_outcomes.json").write_text(json.dumps(summary, indent=1))
    with capsys.disabled():
        print("\nfuzz outcomes:", json.dumps(summary, indent=1))
    assert summary["cases"] >= N_ONNX + N_ARTIFACT + N_NPY + len(procs)
    assert not crashes, f"{len(crashes)} case(s) ended otherwise than a clear error or a correct result: {crashes[:10]}"
    assert counts[("onnx", "correct result")] >= 1 and counts[("artifact", "clear error (exit 2)")] >= N_ARTIFACT // 2
    assert seconds < 120
