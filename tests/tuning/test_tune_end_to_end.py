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
from relay_passes.pipeline import CompileConfig, run_pipeline
from tests.tuning.record_counts import lines, parses, trials_recorded
from tvm_sepnet.autotune import tune
from tvm_sepnet.autotune.curve import read_curves
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.tuning import TuningMismatchError, WorkDir
from tvm_sepnet.tuning.knobs import append_record
from tvm_sepnet.tuning.records import MIN_GAIN
from tvm_sepnet.tuning.workdir import KNOB_RECORDS, RECORDS

SMALL = {"image_size": 32, "num_classes": 10}
pytestmark = pytest.mark.slow


def test_tune_resume_apply_and_mismatch(tmp_path):
    wd = str(tmp_path / "tune")
    first = tune("sepnet-bq", "x86", trials=4, work_dir=wd, trials_per_iter=2, model_check=False, **SMALL)
    n_tasks = len(first["tasks"])
    kinds = sorted(r["kind"] for r in first["tasks"])
    # at 32x32 (integer dataflow): one knob task (register tile, unroll) per distinct dot_conv2d kernel,
    # the bitserial kernels and their bit-packing kernels where the cost model picks bitserial (none at
    # A=4 on a host with a dot instruction), the float conv1; the 4 max pools run on words (word_max_pool2d,
    # a hand kernel with no knobs: no task)
    lm = load_zoo("sepnet-bq", **SMALL)
    _, report = run_pipeline(lm.mod, "x86", CompileConfig.of(**lm.config))
    knob_tasks = len(report.kernels.knob_tasks)  # + the 10-way classifier: not a dot layer (10 % 4), a pointwise one
    assert first["trials_this_run"] == 4
    assert kinds.count("dot_conv2d") + kinds.count("int8_conv2d_pointwise") == knob_tasks and kinds.count("dot_conv2d") > 10
    assert kinds.count("generic") == 0 and kinds.count("float_conv2d_exact") == 1
    assert n_tasks == knob_tasks + 1 + kinds.count("bitserial_conv2d") + kinds.count("quantize") + kinds.count("int8_conv2d")
    assert sum(r["trials"] for r in first["tasks"]) == 4
    assert all(r["hand_ms"] > 0 and r["used_ms"] <= r["hand_ms"] for r in first["tasks"])
    again = tune("sepnet-bq", "x86", trials=4, work_dir=wd, trials_per_iter=2, model_check=False, **SMALL)
    assert again["trials_this_run"] == 0  # nothing missing: the same command is a no-op
    more = tune("sepnet-bq", "x86", trials=6, work_dir=wd, trials_per_iter=2, **SMALL)
    assert more["trials_this_run"] == 2 and sum(r["trials"] for r in more["tasks"]) == 6
    knob = [json.loads(line) for line in lines(os.path.join(wd, KNOB_RECORDS))]
    defaults = {r["task"]: r["secs"] for r in knob if r["search"] == "default"}
    assert len(defaults) == knob_tasks and any(r["search"] == "xgb" for r in knob)
    for r in knob:  # a confirmation: the best points re-measured interleaved with the default
        if r["search"] == "confirm":
            ratio = np.median(r["runs"]) / np.median(r["default_runs"])
            assert len(r["runs"]) == 3 and r["secs"] == pytest.approx(ratio * defaults[r["task"]])
    curves = read_curves(wd, more["tasks"])
    assert len(curves["end_to_end"]) == 6
    assert all(len(c["best"]) == r["trials"] for r in more["tasks"] for k, c in curves["tasks"].items() if k == r["key"])

    art = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config)
    used = art.meta["tuning"]
    # the last run's tasks are the build's kernels (its knob choices decide which direct kernels exist)
    assert used["tuned"] + used["hand_faster"] + used["slower_in_model"] == len(more["tasks"])
    assert used["no_record"] == 0
    # the model check (this run's): every tuned choice timed in the model; the build keeps the hand kernel
    # of exactly those found slower there, and the summary reports them at their hand time
    check = more["model_check"]
    assert check["end_to_end_ms"]["hand"] > 0 and check["end_to_end_ms"]["tuned"] > 0
    verdicts = WorkDir(wd, lock=False, create=False).load_json("model_check.json")
    assert set(check["verdicts"]) <= set(verdicts)
    assert set(used["choices"]) | set(used["rejected_in_model"]) <= set(verdicts)
    assert all(verdicts[k]["slower"] for k in used["rejected_in_model"])
    assert all(not verdicts[k]["slower"] for k in used["choices"])
    assert check["rejected"] == used["rejected_in_model"]
    for r in more["tasks"]:
        if r["key"] in used["rejected_in_model"]:
            assert r["rejected_in_model"] and r["used_ms"] == r["hand_ms"]
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    assert art.check({"input": x})["match"]

    other = load_zoo("sepnet-bq", image_size=96, num_classes=10)
    with pytest.raises(TuningMismatchError, match=r"match none of this model's \d+ tunable kernels"):
        tvm_sepnet.build(other.mod, "x86", tuning=wd, **other.config)


def test_sigkill_mid_run_loses_no_record(tmp_path):
    wd = str(tmp_path / "tune")
    cmd = [sys.executable, "-m", "tvm_sepnet", "tune", "sepnet-bq", "--image-size", "32", "--num-classes", "10",
           "--trials", "6", "--trials-per-iter", "1", "--work-dir", wd, "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = [os.path.join(wd, f) for f in (RECORDS, KNOB_RECORDS)]
    try:
        deadline = time.time() + 240
        while time.time() < deadline:  # 2 trials past the defaults and hand schedules
            if trials_recorded(wd) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("tuning produced no records in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    complete = {f: [line for line in lines(f) if parses(line)] if os.path.exists(f) else [] for f in files}
    done = trials_recorded(wd)
    assert done >= 2
    with WorkDir(wd):  # repairs a cut line, keeps every complete one
        after = {f: lines(f) if os.path.exists(f) else [] for f in files}
    assert after == complete and all(parses(line) for lines in after.values() for line in lines)
    summary = tune("sepnet-bq", "x86", trials=6, work_dir=wd, trials_per_iter=2, model_check=False, **SMALL)
    assert sum(r["trials"] for r in summary["tasks"]) == 6
    assert summary["trials_this_run"] == 6 - done


def _confirm(wd, task_key, knobs, secs):
    """A confirmation record injected into the work directory (what the tuner writes after re-measuring
    a point against the default), so the build's choice does not hang on this machine's timings."""
    append_record(os.path.join(wd, KNOB_RECORDS), {"task": task_key, "kind": "dot_conv2d", "layers": [],
                                                   "knobs": knobs, "search": "confirm", "secs": secs, "runs": [secs],
                                                   "default_runs": [], "target": "x86", "time": time.time()})


def test_pointwise_choice_is_confirmed_and_applied(tmp_path):
    """The SEP restore conv (64->256, 4 groups, a dot_conv2d kernel): the knob search measures points of its space, the best
    ones faster than the default are re-measured against it (confirm records, after the search), and
    the summary and the build follow the records. Then confirmations are injected both ways: a point
    confirmed faster is built (bit-exact), a point confirmed slower is not, and a model-check verdict
    "slower in the model" overrides a faster confirmation."""
    wd = str(tmp_path / "tune")
    summary = tune("sepnet-bq", "x86", trials=12, work_dir=wd, trials_per_iter=4, only=["dot_conv2d[sep2_1_restore"],
                   model_check=False, **SMALL)
    (row,) = summary["tasks"]
    task = "dot_conv2d[sep2_1_restore]"
    assert row["kind"] == "dot_conv2d" and row["trials"] == 12
    knob = [json.loads(line) for line in lines(os.path.join(wd, KNOB_RECORDS))]
    (default,) = [r for r in knob if r["search"] == "default"]
    trials = [r for r in knob if r["search"] == "xgb"]
    confirms = [r for r in knob if r["search"] == "confirm"]
    assert len(trials) == 12 and default["secs"] > 0
    faster = sorted((r for r in trials if r["secs"] is not None and r["secs"] < default["secs"]), key=lambda r: r["secs"])
    # the best (at most 2) points faster than the default are confirmed, after the search
    assert [r["knobs"] for r in confirms] == [r["knobs"] for r in faster[:2]]
    assert not confirms or knob.index(confirms[0]) > max(knob.index(r) for r in trials)
    best = min([default["secs"]] + [r["secs"] for r in confirms])
    tuned = best < default["secs"] * (1 - MIN_GAIN)
    assert row["used_ms"] == pytest.approx(1e3 * (best if tuned else default["secs"]))
    lm = load_zoo("sepnet-bq", **SMALL)
    x = {"input": np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    built = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config).meta["tuning"]["kernels"]
    assert built["tuned" if tuned else "hand_faster"] == [task]

    point = next(r["knobs"] for r in trials if r["knobs"] != default["knobs"])  # a tile or unroll of the space
    for r in confirms:  # every real confirmation made slower, then one other point confirmed 2x faster
        _confirm(wd, default["task"], r["knobs"], default["secs"] * 1.5)
    _confirm(wd, default["task"], point, default["secs"] * 0.5)
    art = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config)
    assert art.meta["tuning"]["kernels"]["tuned"] == [task]
    (key,) = art.meta["tuning"]["choices"]
    assert json.loads(art.meta["tuning"]["choices"][key]["choice"]) == point
    assert art.check(x)["bit_exact"]  # the register tile the build switched to is exact
    choices = art.meta["tuning"]["choices"]
    WorkDir(wd, lock=False, create=False).save_json("model_check.json", {  # a model-check verdict on this choice
        key: {**choices[key], "hand_ms": 1.0, "tuned_ms": 1.1, "slower": True}})
    again = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config)
    assert again.meta["tuning"]["kernels"]["slower_in_model"] == [task]
    assert again.meta["tuning"]["choices"] == {} and list(again.meta["tuning"]["rejected_in_model"]) == [key]
    assert again.check(x)["bit_exact"]
    WorkDir(wd, lock=False, create=False).save_json("model_check.json", {  # a verdict on another choice
        key: {**choices[key], "choice": "{}", "slower": True}})
    assert tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config).meta["tuning"]["choices"] == choices

    _confirm(wd, default["task"], point, default["secs"] * 1.5)  # now confirmed slower: the default stays
    slower = tvm_sepnet.build(lm.mod, "x86", tuning=wd, **lm.config).meta["tuning"]
    assert slower["kernels"]["hand_faster"] == [task] and slower["choices"] == {}


def test_a_confirmed_metaschedule_record_is_recognized_after_reload(tmp_path):
    """The float first conv's tuned schedule is confirmed against the hand one; a build (a fresh reader of
    the saved database) matches the confirmation to the record it uses and times it by it."""
    from tvm_sepnet.autotune import extract_tasks
    from tvm_sepnet.targets import get_target
    from tvm_sepnet.tuning.records import best_record_secs

    wd = str(tmp_path / "tune")
    tune("sepnet-bq", "x86", trials=8, work_dir=wd, trials_per_iter=4, only=["float_conv2d_exact[conv1]"], model_check=False,
         **SMALL)
    (task,) = [t for t in extract_tasks("sepnet-bq", "x86", **SMALL)[0] if t.name == "float_conv2d_exact[conv1]"]
    reader = WorkDir(wd, lock=False, create=False)
    confirmed = reader.confirmed()
    secs, sch = best_record_secs(reader.database, task.mod, get_target("x86").tvm_target(), confirmed)
    assert sch is not None
    if task.key in confirmed:  # the usual case: a tuned schedule measured faster, so it was confirmed
        assert len(confirmed[task.key]["runs"]) == 3 and secs == confirmed[task.key]["secs"]
    else:  # under load no trial may have beaten the hand schedule: then there was nothing to confirm
        assert secs >= reader.hand()[task.key]
