"""tvm-sepnet tune on a small SEP-Net with budgets of a few trials: resume, apply at build (and refuse
records of another model), and a SIGKILL mid-run that loses no completed record."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tvm_sepnet
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.tuning import TuningMismatchError, WorkDir, tune
from tvm_sepnet.tuning.curve import read_curves
from tvm_sepnet.tuning.workdir import RECORDS

SMALL = {"image_size": 64, "num_classes": 10}
pytestmark = pytest.mark.slow


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def test_tune_resume_apply_and_mismatch(tmp_path):
    wd = str(tmp_path / "tune")
    first = tune("sepnet-bq", "x86", trials=4, work_dir=wd, trials_per_iter=2, **SMALL)
    n_tasks = len(first["tasks"])  # 5 int8 direct + 4 bitserial kernel shapes, the float conv1, 4 max pools at 64x64
    kinds = sorted(r["kind"] for r in first["tasks"])
    assert first["trials_this_run"] == 4 and n_tasks == 14
    assert kinds.count("int8_conv2d") == 5 and kinds.count("bitserial_conv2d") == 4 and kinds.count("generic") == 4
    assert kinds.count("float_conv2d_exact") == 1
    assert sum(r["trials"] for r in first["tasks"]) == 4
    assert all(r["hand_ms"] > 0 and r["best_ms"] <= r["hand_ms"] for r in first["tasks"])
    again = tune("sepnet-bq", "x86", trials=4, work_dir=wd, trials_per_iter=2, **SMALL)
    assert again["trials_this_run"] == 0  # nothing missing: the same command is a no-op
    more = tune("sepnet-bq", "x86", trials=6, work_dir=wd, trials_per_iter=2, **SMALL)
    assert more["trials_this_run"] == 2 and sum(r["trials"] for r in more["tasks"]) == 6
    curves = read_curves(wd, more["tasks"])
    assert len(curves["end_to_end"]) == 6
    assert all(len(c["best"]) == r["trials"] for r in more["tasks"] for k, c in curves["tasks"].items() if k == r["key"])

    lm = load_zoo("sepnet-bq", **SMALL)
    art = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config)
    used = art.meta["tuning"]
    assert used["tuned"] + used["hand_faster"] == n_tasks and used["no_record"] == 0
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert art.check({"input": x})["match"]

    other = load_zoo("sepnet-bq", image_size=96, num_classes=10)
    with pytest.raises(TuningMismatchError, match=r"match none of this model's \d+ tunable kernels"):
        tvm_sepnet.build(other.mod, "x86", tuning=wd, **other.config)


def test_sigkill_mid_run_loses_no_record(tmp_path):
    wd = str(tmp_path / "tune")
    cmd = [sys.executable, "-m", "tvm_sepnet", "tune", "sepnet-bq", "--image-size", "64", "--num-classes", "10",
           "--trials", "10", "--trials-per-iter", "1", "--work-dir", wd, "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = os.path.join(wd, RECORDS)
    try:
        deadline = time.time() + 240
        hand = os.path.join(wd, "hand.json")
        while time.time() < deadline:  # every hand record (hand.json is written after them) + 2 trials
            if os.path.exists(hand) and len(_lines(records)) >= len(json.load(open(hand))) + 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("tuning produced no records in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    n_hand = len(json.load(open(os.path.join(wd, "hand.json"))))
    before = [line for line in _lines(records)]
    complete = [line for line in before if _parses(line)]
    assert len(complete) >= n_hand + 2
    with WorkDir(wd) as w:  # repairs a cut line, keeps every complete one
        after = _lines(w.file(RECORDS))
    assert after == complete and all(_parses(line) for line in after)
    summary = tune("sepnet-bq", "x86", trials=10, work_dir=wd, trials_per_iter=2, **SMALL)
    assert sum(r["trials"] for r in summary["tasks"]) == 10
    assert summary["trials_this_run"] == 10 - (len(complete) - n_hand)


def _parses(line):
    try:
        json.loads(line)
        return True
    except ValueError:
        return False
