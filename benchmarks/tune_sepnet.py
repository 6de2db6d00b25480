"""Issue #4 benchmark: tune sepnet-bq with MetaSchedule + XGBoost, then, in one process, time the
hand-scheduled and the tuned builds side by side, and compare XGBoost with random search on the three
largest binary-conv tasks at the same trial budget.

    python benchmarks/tune_sepnet.py --trials 400 --compare-trials 48 -o benchmarks/results/tune

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
from tvm_sepnet.frontend import load_zoo  # noqa: E402
from tvm_sepnet.tuning import tune  # noqa: E402
from tvm_sepnet.tuning.curve import plot_curves, read_curves, trials_to_reach  # noqa: E402


def interleaved_ms(artifacts: dict, inputs, rounds: int = 7) -> dict:
    times = {k: [] for k in artifacts}
    for _ in range(rounds):
        for name, art in artifacts.items():
            times[name].append(art.time(inputs, number=5, repeat=1) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="sepnet-bq")
    p.add_argument("--trials", type=int, default=400, help="XGBoost trials over all tasks (end-to-end run)")
    p.add_argument("--compare-trials", type=int, default=48, help="trials per search on the 3 largest binary tasks")
    p.add_argument("--trials-per-iter", type=int, default=8)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--fresh", action="store_true", help="delete the work directories first")
    p.add_argument("-o", "--output", default="benchmarks/results/tune")
    args = p.parse_args(argv)
    out = args.output
    os.makedirs(out, exist_ok=True)
    zoo = {"image_size": args.image_size}
    dirs = {k: os.path.join(out, k) for k in ("xgb", "cmp-xgb", "cmp-random")}
    if args.fresh:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)

    t0 = time.time()
    full = tune(args.model, "x86", args.trials, dirs["xgb"], trials_per_iter=args.trials_per_iter, **zoo)
    tune_seconds = time.time() - t0

    lm = load_zoo(args.model, **zoo)
    x = np.random.default_rng(0).standard_normal((1, 3, args.image_size, args.image_size)).astype(np.float32)
    hand = tvm_sepnet.build(lm.mod, "x86", **lm.config)
    tuned = tvm_sepnet.build(lm.mod, "x86", tuning=dirs["xgb"], **lm.config)
    check = tuned.check({"input": x})
    e2e = interleaved_ms({"hand": hand, "tuned": tuned}, {"input": x})

    binary = [r for r in full["tasks"] if r["kind"] == "bitserial_conv2d"]
    largest = [r["layers"][0] for r in sorted(binary, key=lambda r: -r["calls"] * r["hand_ms"])[:3]]
    cmp = {}
    for search in ("xgb", "random"):
        d = dirs[f"cmp-{search}"]
        s = tune(args.model, "x86", args.compare_trials * len(largest), d, search=search, only=largest,
                 trials_per_iter=args.trials_per_iter, **zoo)
        curves = read_curves(d, s["tasks"])
        cmp[search] = {"summary": s, "curves": curves,
                       "trials_to_5pct": {c["name"]: trials_to_reach(c["best"]) for c in curves["tasks"].values()}}
    plot = plot_curves({k: v["curves"] for k, v in cmp.items()}, os.path.join(out, "tuning.png"), top=3)
    full_plot = plot_curves({"xgb": read_curves(dirs["xgb"], full["tasks"])}, os.path.join(out, "tuning_full.png"))

    summary = {
        "machine": {"cores": os.cpu_count()},
        "tune_seconds": tune_seconds, "trials": full["trials_this_run"],
        "end_to_end_ms": e2e, "speedup": e2e["hand"] / e2e["tuned"],
        "tuned_build": tuned.meta["tuning"] | {"kernels": None},
        "check": {"match": check["match"], "max_rel_err": check["max_rel_err"]},
        "tasks": full["tasks"],
        "slower_than_hand": [r["task"] for r in full["tasks"] if r["best_ms"] and r["best_ms"] > r["hand_ms"]],
        "xgb_vs_random": {k: {"trials_to_5pct": v["trials_to_5pct"],
                               "best_ms": {r["task"]: r["best_ms"] for r in v["summary"]["tasks"]}}
                          for k, v in cmp.items()},
        "plots": [plot, full_plot],
    }
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"tuning: {summary['trials']} trials in {tune_seconds:.0f} s")
    print(f"end to end: hand {e2e['hand']:.2f} ms, tuned {e2e['tuned']:.2f} ms, x{summary['speedup']:.2f}; "
          f"check match {check['match']}")
    for r in full["tasks"]:
        print(f"  {r['task']:<44} x{r['calls']}  hand {r['hand_ms']:.4f} ms  best {r['best_ms']:.4f} ms  "
              f"({r['trials']} trials)")
    for k, v in cmp.items():
        print(f"{k}: trials to within 5 % of its final best: {v['trials_to_5pct']}")
    print(f"wrote {out}/summary.json, {plot}, {full_plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
