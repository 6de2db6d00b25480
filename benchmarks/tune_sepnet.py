"""Issue #4 benchmark: tune sepnet-bq with MetaSchedule + XGBoost, then, in one process, time the
hand-scheduled and the tuned builds side by side, and compare XGBoost with random search on the three
largest binary-conv tasks at the same trial budget.

    python benchmarks/tune_sepnet.py --trials 1200 --compare-trials 48 --seeds 3 -o benchmarks/results/tune
    python benchmarks/tune_sepnet.py --time-only --rounds 21   # re-time hand vs tuned, no tuning
    python benchmarks/tune_sepnet.py --compare-only            # the XGBoost vs random comparison again

Writes ``OUT/summary.json`` and ``OUT/tuning.png`` (XGBoost vs random curves and the end-to-end
curve). Timings: median of interleaved repeats (hand, tuned, hand, tuned, ...) so both see the same
machine state.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import tvm_sepnet  # noqa: E402,F401  (sets TVM_NUM_THREADS before TVM starts its pool)
from tvm_sepnet.autotune import tune  # noqa: E402
from tvm_sepnet.autotune.curve import plot_curves, read_curves, trials_to_reach  # noqa: E402
from tvm_sepnet.frontend import load_zoo  # noqa: E402


def interleaved_ms(artifacts: dict, inputs, rounds: int = 7) -> dict:
    from tvm_sepnet.autotune.model_check import interleaved_e2e_ms

    return dict(zip(artifacts, interleaved_e2e_ms(list(artifacts.values()), inputs, rounds)))


def kernel_kinds_ms(artifacts: dict, inputs, rounds: int = 5) -> dict:
    """{kernel kind: {build: ms}}: per-kind kernel time inside the model (VM instrument), medians of
    interleaved profiles (a tuned build may run other kernels than the hand one, e.g. no separate
    quantize where a channel-word kernel quantizes its input)."""
    from tvm_sepnet.profiling import profile_kernels

    runs = {k: [] for k in artifacts}
    for _ in range(rounds):
        for name, art in artifacts.items():
            runs[name].append({r["kernel"]: r["ms"] for r in profile_kernels(art, inputs, repeat=5)})
    kinds = sorted({k for rs in runs.values() for r in rs for k in r})
    return {k: {name: float(np.median([r.get(k, 0.0) for r in rs])) for name, rs in runs.items()} for k in kinds}


def _cmp_dir(out: str, search: str, seed: int) -> str:
    return os.path.join(out, f"cmp-{search}" + (f"-seed{seed}" if seed else ""))


def compare_searches(args, layers: list[str], out: str, zoo: dict) -> dict:
    """Run XGBoost and random search on the tasks of ``layers`` (``args.compare_trials`` trials per
    task and search, split by the tasks' weights) for each of ``args.seeds`` seeds, the two searches
    interleaved seed by seed so both see the same machine; then :func:`search_metrics`."""
    for seed in range(args.seeds):
        for search in ("xgb", "random"):
            d = _cmp_dir(out, search, seed)
            shutil.rmtree(d, ignore_errors=True)
            # the bitserial tasks only (their layers' quantize + bit-packing kernels are tasks too)
            tune(args.model, "x86", args.compare_trials * len(layers), d, search=search,
                 only=[f"bitserial_conv2d[{layer}" for layer in layers],
                 trials_per_iter=args.trials_per_iter, search_seed=seed, model_check=False, **zoo)
    return search_metrics(out, args.seeds)


def search_metrics(out: str, seeds: int) -> dict:
    """Per search and task, from each run's trials in measurement order (the hand schedule, the
    database's first record, is not a trial of either search):

    - ``trials_to_5pct``: trials until the run's best is within 5 % of *its own* final best (the issue's
      measure; a run that never improves on its first trials scores low);
    - ``trials_to_5pct_of_best_known``: trials until within 5 % of the best latency any run (either
      search, any seed) found for the task, None if never;
    - ``final_best_ms``; medians over seeds of each."""
    from tvm_sepnet.tuning.workdir import WorkDir, failed

    runs = {}
    for search in ("xgb", "random"):
        for seed in range(seeds):
            wd = WorkDir(_cmp_dir(out, search, seed), lock=False, create=False)
            names = {r["key"]: r["task"] for r in wd.runs()}
            trials, seen = {}, set()
            for key, secs in wd.measurements():
                if key in seen:
                    trials.setdefault(names.get(key, key), []).append(secs)
                seen.add(key)  # the first record of a workload is its hand schedule
            runs[(search, seed)] = {k: np.minimum.accumulate([np.inf if failed(v) else v for v in vs])
                                    for k, vs in trials.items()}
    tasks = sorted({k for r in runs.values() for k in r})
    best_known = {k: min(r[k][-1] for r in runs.values() if k in r) for k in tasks}
    cmp = {}
    for (search, seed), per in runs.items():
        e = cmp.setdefault(search, {"trials_to_5pct": {}, "trials_to_5pct_of_best_known": {}, "final_best_ms": {}})
        for k, best in per.items():
            e["trials_to_5pct"].setdefault(k, []).append(trials_to_reach(list(best)))
            known = next((i + 1 for i, v in enumerate(best) if v <= best_known[k] * 1.05), None)
            e["trials_to_5pct_of_best_known"].setdefault(k, []).append(known)
            e["final_best_ms"].setdefault(k, []).append(float(best[-1]) * 1e3)
    for e in cmp.values():
        for name in ("trials_to_5pct", "trials_to_5pct_of_best_known", "final_best_ms"):
            e["median_" + name] = {k: float(np.median([np.inf if v is None else v for v in vs]))
                                   for k, vs in e[name].items()}
    return cmp


def slower_kinds(by_kind: dict) -> list[str]:
    """Kernel kinds more than 5 % + 0.02 ms slower in the tuned model than in the hand one."""
    return [k for k, v in by_kind.items() if v["tuned"] > v["hand"] * 1.05 + 0.02]


def slower_layers(hand_ms: dict, tuned_ms: dict, tuned_layers: set) -> dict:
    """Layers (and other kernels) slower in the tuned model than in the hand one, beyond the model
    check's tolerance (tvm_sepnet.autotune.model_check): ``tuned`` = those running a tuned choice,
    ``untouched`` = those running the same kernels in both builds (their differences are the spread
    of the measurement and of neighbouring kernels' cache effects)."""
    from tvm_sepnet.autotune.model_check import ABS_TOL_MS, REL_TOL

    rows = [{"layer": g, "hand_ms": hand_ms[g], "tuned_ms": tuned_ms.get(g, 0.0)} for g in sorted(hand_ms)
            if tuned_ms.get(g, 0.0) > hand_ms[g] * (1 + REL_TOL) + ABS_TOL_MS]
    return {"tuned": [r for r in rows if r["layer"] in tuned_layers],
            "untouched": [r for r in rows if r["layer"] not in tuned_layers]}


def _tile_splits(n: int, extent: int, max_inner: int) -> int:
    """Ordered n-factor splits of ``extent`` whose innermost factor is at most ``max_inner`` (the
    choices of ``sample_perfect_tile``)."""
    def any_splits(k: int, e: int) -> int:
        if k == 0:
            return int(e == 1)
        return sum(any_splits(k - 1, e // d) for d in range(1, e + 1) if e % d == 0)

    return sum(any_splits(n - 1, extent // last) for last in range(1, extent + 1)
               if extent % last == 0 and (max_inner <= 0 or last <= max_inner))


def space_size(task) -> int:
    """Points of a MetaSchedule task's design space(s): the product of its sampling instructions'
    choices, summed over the structures."""
    import math

    from tvm import s_tir

    spaces = task.space()(s_tir.Schedule(task.mod))
    total = 0
    for sch in spaces if isinstance(spaces, list) else [spaces]:
        points = 1
        for inst in sch.trace.insts:
            if inst.kind.name == "SamplePerfectTile":
                extent = math.prod(int(v) for v in sch.trace.get_decision(inst))
                points *= _tile_splits(int(inst.attrs[0]), extent, int(inst.attrs[1]))
            elif inst.kind.name == "SampleCategorical":
                points *= len(inst.attrs[0])
        total += points
    return total


def space_coverage(args, work_dir: str, zoo: dict) -> list[dict]:
    """Per task of the tuned lowering: the size of its space and how many distinct points the run
    measured (knob tasks: knob settings; MetaSchedule tasks: distinct traces in the database)."""
    from tvm_sepnet.autotune.tuner import KnobChoices, load_for_tuning, lower_tasks
    from tvm_sepnet.targets import get_target
    from tvm_sepnet.tuning.records import knob_records_by_task
    from tvm_sepnet.tuning.workdir import KNOB_RECORDS, MODEL_CHECK, WorkDir

    preset = get_target("x86")
    wd = WorkDir(work_dir, lock=False, create=False)
    db = wd.database
    knob_all = knob_records_by_task(wd.file(KNOB_RECORDS), preset.name)
    choices = KnobChoices(knob_records_by_task(wd.file(KNOB_RECORDS), preset.name, confirmed=True),
                          wd.load_json(MODEL_CHECK))
    lm, cfg = load_for_tuning(args.model, None, zoo)
    out = []
    for t in lower_tasks(lm, cfg, preset) + [t for t in lower_tasks(lm, cfg, preset, choices) if not t.is_knob_task]:
        if t.is_knob_task:
            size, seen = len(t.knob_space()), len(knob_all.get(t.key, {}))
        elif db.has_workload(t.mod):
            records = db.get_top_k(db.commit_workload(t.mod), 1 << 20)
            size = space_size(t)
            seen = len({str(r.trace.as_json(remove_postproc=True)) for r in records})
        else:
            continue
        if any(r["task"] == t.name for r in out):
            continue
        out.append({"task": t.name, "space_points": size, "distinct_measured": seen, "share": seen / size})
    return out


DATA_MOVEMENT_KINDS = ("quantize", "quantize_bitpack")  # kernels that only convert and move activations


def time_builds(args, work_dir: str, zoo: dict) -> dict:
    """The hand and the tuned build of the model, in this process: check of the tuned build,
    interleaved end-to-end medians, per-kind and per-layer kernel times inside the model, what the tuned
    build applied, and a ceiling: the end-to-end ratio if the kernels that only convert and move
    activations (``DATA_MOVEMENT_KINDS``) took no time at all in the tuned build."""
    from tvm_sepnet.autotune.model_check import interleaved_layer_ms

    lm = load_zoo(args.model, **zoo)
    x = np.random.default_rng(0).standard_normal((1, 3, args.image_size, args.image_size)).astype(np.float32)
    hand = tvm_sepnet.build(lm.mod, "x86", **lm.config)
    tuned = tvm_sepnet.build(lm.mod, "x86", tuning=work_dir, **lm.config)
    check = tuned.check({"input": x})
    builds = {"hand": hand, "tuned": tuned}
    e2e = interleaved_ms(builds, {"input": x}, args.rounds)
    by_kind = kernel_kinds_ms(builds, {"input": x})
    hand_layers, tuned_layers = interleaved_layer_ms([hand, tuned], {"input": x}, rounds=args.rounds)
    moving = sum(by_kind.get(k, {}).get("tuned", 0.0) for k in DATA_MOVEMENT_KINDS)
    return {"end_to_end_ms": e2e, "speedup": e2e["hand"] / e2e["tuned"], "kernel_kinds_ms": by_kind,
            "check": {"match": check["match"], "max_rel_err": check["max_rel_err"]},
            "kinds_slower_in_model": slower_kinds(by_kind),
            "layers_slower_in_model": slower_layers(hand_layers, tuned_layers, {
                layer for c in tuned.meta["tuning"]["choices"].values() for layer in c["layers"]}),
            "layer_ms": {"hand": hand_layers, "tuned": tuned_layers},
            "ceiling_without_data_movement": {"kinds": list(DATA_MOVEMENT_KINDS), "tuned_ms_of_them": moving,
                                              "speedup_bound": e2e["hand"] / max(e2e["tuned"] - moving, 1e-9)},
            "tuned_build": {k: v for k, v in tuned.meta["tuning"].items() if k not in ("kernels", "choices")}}


def print_timing(t: dict, rounds: int) -> None:
    e2e = t["end_to_end_ms"]
    print(f"end to end ({rounds} interleaved rounds): hand {e2e['hand']:.2f} ms, tuned {e2e['tuned']:.2f} ms, "
          f"x{t['speedup']:.3f}; check match {t['check']['match']}; ceiling if "
          f"{'/'.join(t['ceiling_without_data_movement']['kinds'])} took no time: "
          f"x{t['ceiling_without_data_movement']['speedup_bound']:.3f}")
    for kind, ms in sorted(t["kernel_kinds_ms"].items(), key=lambda kv: -kv[1]["hand"]):
        print(f"  kernel kind {kind:<28} hand {ms['hand']:.3f} ms  tuned {ms['tuned']:.3f} ms")
    slower = t["layers_slower_in_model"]
    print(f"  layers slower in the tuned model: with a tuned kernel {slower['tuned'] or 'none'}; "
          f"running the same kernels in both builds (spread) {slower['untouched'] or 'none'}")
    for c in t.get("space_coverage", []):
        print(f"  space {c['task']:<44} {c['distinct_measured']:>4} of {c['space_points']:>5} points measured")


def retime(args, out: str, work_dir: str, zoo: dict) -> int:
    """``--time-only``: time the hand and tuned builds again from the existing work directory (no
    tuning), and update OUT/summary.json (the earlier timing is kept under ``earlier_timings``)."""
    path = os.path.join(out, "summary.json")
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)
    timing = time_builds(args, work_dir, zoo)
    timing["space_coverage"] = space_coverage(args, work_dir, zoo)
    summary.setdefault("earlier_timings", []).append({k: summary[k] for k in ("end_to_end_ms", "speedup",
                                                                                "kernel_kinds_ms") if k in summary})
    summary.update({**timing, "rounds": args.rounds})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print_timing(timing, args.rounds)
    return 0


def largest_binary_layers(tasks: list[dict]) -> list[str]:
    """First layers of the three binary-conv tasks with the largest share of kernel time."""
    binary = [r for r in tasks if r["kind"] == "bitserial_conv2d"]
    return [r["layers"][0] for r in sorted(binary, key=lambda r: -r["calls"] * r["hand_ms"])[:3]]


def recompare(args, out: str, zoo: dict) -> int:
    """``--compare-only``: the XGBoost vs random comparison on the tasks of OUT/summary.json, again."""
    path = os.path.join(out, "summary.json")
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)
    cmp = compare_searches(args, largest_binary_layers(summary["tasks"]), out, zoo)
    summary["xgb_vs_random"] = cmp
    summary["plots"][0] = plot_curves({k: read_curves(_cmp_dir(out, k, 0)) for k in cmp},
                                      os.path.join(out, "tuning.png"), top=3)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print_comparison(cmp)
    return 0


def print_comparison(cmp: dict) -> None:
    for k, v in cmp.items():
        for name in ("trials_to_5pct", "trials_to_5pct_of_best_known", "final_best_ms"):
            print(f"{k}: {name} per seed {v[name]}; medians {v['median_' + name]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="sepnet-bq")
    p.add_argument("--trials", type=int, default=400, help="XGBoost trials over all tasks (end-to-end run)")
    p.add_argument("--compare-trials", type=int, default=48, help="trials per search on the 3 largest binary tasks")
    p.add_argument("--trials-per-iter", type=int, default=8)
    p.add_argument("--seeds", type=int, default=3, help="seeds of the XGBoost vs random comparison")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the end-to-end timing")
    p.add_argument("--time-only", action="store_true",
                   help="no tuning: time the hand and tuned builds of OUT/xgb again, update OUT/summary.json")
    p.add_argument("--compare-only", action="store_true",
                   help="no end-to-end tuning: run the XGBoost vs random comparison again, update OUT/summary.json")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--fresh", action="store_true", help="delete the work directories first")
    p.add_argument("-o", "--output", default="benchmarks/results/tune")
    args = p.parse_args(argv)
    out = args.output
    os.makedirs(out, exist_ok=True)
    zoo = {"image_size": args.image_size}
    dirs = {"xgb": os.path.join(out, "xgb")}
    if args.fresh:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)

    if args.time_only:
        return retime(args, out, dirs["xgb"], zoo)
    if args.compare_only:
        return recompare(args, out, zoo)
    t0 = time.time()
    full = tune(args.model, "x86", args.trials, dirs["xgb"], trials_per_iter=args.trials_per_iter, **zoo)
    tune_seconds = time.time() - t0
    timing = time_builds(args, dirs["xgb"], zoo)
    timing["space_coverage"] = space_coverage(args, dirs["xgb"], zoo)

    cmp = compare_searches(args, largest_binary_layers(full["tasks"]), out, zoo)
    plot = plot_curves({k: read_curves(_cmp_dir(out, k, 0)) for k in cmp}, os.path.join(out, "tuning.png"), top=3)
    full_plot = plot_curves({"xgb": read_curves(dirs["xgb"], full["tasks"])}, os.path.join(out, "tuning_full.png"))

    summary = {
        "machine": {"cores": os.cpu_count()},
        "tune_seconds": tune_seconds, "trials": full["trials_this_run"], "rounds": args.rounds,
        **timing,
        "tasks": full["tasks"],
        "model_check": full["model_check"],
        "xgb_vs_random": cmp,
        "plots": [plot, full_plot],
    }
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"tuning: {summary['trials']} trials in {tune_seconds:.0f} s (model check included)")
    for r in full["tasks"]:
        print(f"  {r['task']:<44} x{r['calls']}  hand {r['hand_ms']:.4f} ms  best {r['best_ms']:.4f} ms  "
              f"used {r['used_ms']:.4f} ms ({r['trials']} trials)")
    print_timing(timing, args.rounds)
    print_comparison(cmp)
    print(f"wrote {out}/summary.json, {plot}, {full_plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
