"""Model check: every tuned choice is timed where it runs, inside the model, against the hand build.

A kernel's standalone time (:mod:`.measure`: caches flushed before each run) does not always rank
choices as the model does, where a kernel reads what the previous one just wrote and writes what the
next reads (docs/measurements.md, "Model check", has the cases that made this step). So after the search and the
standalone confirmation, ``tune`` builds the model twice (hand schedules only, and with the tuning
records) and profiles both in one process, interleaved (``ROUNDS`` rounds, each the median of
``REPEAT`` instrumented runs; :func:`tvm_sepnet.profiling.profile_layers` attributes every kernel call
to its conv layer, quantize and bit-packing kernels included). A tuned choice whose layers take
longer than in the hand build (beyond ``REL_TOL`` and ``ABS_TOL_MS``: the spread of these medians
here) is marked ``slower`` in ``model_check.json`` with its times; builds then keep the hand kernel
for it (:class:`.records.TuningRecords`). Rejections change the neighbours of other layers, so the
check runs again on the new build until no new choice is rejected (at most ``MAX_PASSES``).
Verdicts are per choice (schedule hash or knob id): a later tuning run that finds another winner for
the task gets it checked afresh.

Runs where the model runs: local measurement on a host that can execute the target's code (the x86
presets); tuning through an RPC tracker skips it (said in the summary).
"""
from __future__ import annotations

import numpy as np

from ..profiling import profile_layers
from ..tuning.workdir import MODEL_CHECK

ROUNDS, REPEAT = 7, 3
REL_TOL, ABS_TOL_MS = 0.02, 0.002
MAX_PASSES = 3


def model_inputs(artifact, seed: int = 0) -> dict:
    """Random float32 inputs (standard normal) for an artifact's input specs."""
    rng = np.random.default_rng(seed)
    return {s["name"]: rng.standard_normal(s["shape"]).astype(s.get("dtype", "float32")) for s in artifact.input_specs}


def interleaved_layer_ms(artifacts: list, inputs: dict, rounds: int = ROUNDS, repeat: int = REPEAT) -> list[dict]:
    """Per artifact, {layer or kernel group: ms}: medians over ``rounds`` interleaved profiles."""
    runs: list[list[dict]] = [[] for _ in artifacts]
    for _ in range(rounds):
        for i, art in enumerate(artifacts):
            runs[i].append(profile_layers(art, inputs, repeat=repeat))
    out = []
    for rs in runs:
        groups = {g for r in rs for g in r}
        out.append({g: float(np.median([r.get(g, 0.0) for r in rs])) for g in groups})
    return out


def interleaved_e2e_ms(artifacts: list, inputs: dict, rounds: int = ROUNDS) -> list[float]:
    """End-to-end medians (ms) of ``rounds`` interleaved timings (5 runs each)."""
    times: list[list[float]] = [[] for _ in artifacts]
    for _ in range(rounds):
        for i, art in enumerate(artifacts):
            times[i].append(art.time(inputs, number=5, repeat=1) * 1e3)
    return [float(np.median(t)) for t in times]


def judge(choices: dict, hand_ms: dict, tuned_ms: dict) -> dict:
    """{task key: verdict} of tuned ``choices`` (``TuningRecords.summary()["choices"]``) from per-layer
    times: the summed times of the task's layers, and whether the tuned build's is slower."""
    out = {}
    for key, c in choices.items():
        missing = [layer for layer in c["layers"] if layer not in hand_ms or layer not in tuned_ms]
        if missing:
            raise ValueError(f"model check: {c['task']}: layers {missing} were not found in the model's profile")
        h = sum(hand_ms[layer] for layer in c["layers"])
        t = sum(tuned_ms[layer] for layer in c["layers"])
        out[key] = {"task": c["task"], "choice": c["choice"], "layers": c["layers"], "hand_ms": h, "tuned_ms": t,
                    "slower": t > h * (1 + REL_TOL) + ABS_TOL_MS}
    return out


def check_in_model(build, wd, stream, rounds: int = ROUNDS) -> dict:
    """Run the model check. ``build(tuned: bool)`` compiles the model (with the work directory's
    records when ``tuned``); ``wd``: the (locked) :class:`.workdir.WorkDir`. Returns {"verdicts": this
    run's verdicts, "rejected": {task key: name} kept at hand schedules by the check (this or an earlier run),
    "end_to_end_ms": {"hand",
    "tuned"} of the final build, interleaved}."""
    verdicts = wd.load_json(MODEL_CHECK)
    hand = build(False)
    inputs = model_inputs(hand)
    checked: dict = {}
    for done in range(MAX_PASSES + 1):
        tuned = build(True)  # with the verdicts so far
        choices = tuned.meta["tuning"]["choices"]
        fresh = {k: c for k, c in choices.items() if verdicts.get(k, {}).get("choice") != c["choice"]}
        if not fresh or done == MAX_PASSES:
            break
        hand_ms, tuned_ms = interleaved_layer_ms([hand, tuned], inputs, rounds)
        new = judge(fresh, hand_ms, tuned_ms)
        verdicts.update(new)
        checked.update(new)
        wd.save_json(MODEL_CHECK, verdicts)
        slower = [v for v in new.values() if v["slower"]]
        print(f"[tune] model check: {len(new)} tuned choice(s) timed in the model, {len(slower)} slower than the "
              f"hand build there (kept at hand schedules)"
              + "".join(f"\n[tune]   {v['task']}: {v['hand_ms']:.3f} -> {v['tuned_ms']:.3f} ms" for v in slower),
              file=stream, flush=True)
        if not slower:
            break  # no verdict changed the build: ``tuned`` is final
    e2e = interleaved_e2e_ms([hand, tuned], inputs, rounds)
    return {"verdicts": checked, "rejected": tuned.meta["tuning"]["rejected_in_model"],
            "end_to_end_ms": {"hand": e2e[0], "tuned": e2e[1]}}
