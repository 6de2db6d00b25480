"""Issue #6 benchmark: sepnet-bq (224x224, 1000 classes) on the simulated accelerator, per preset:
bit-exactness against the reference executor, the per-layer cycle / utilization table, resources vs
the device budget, images/s, on-chip fit against the same network with float k×k weights, and the
tiling tuned with the XGBoost cost model (and random search, same budget) vs the default tiling.

    python benchmarks/fpga_sepnet.py --presets zcu104 pynq-z2 --trials 300 -o benchmarks/results/fpga

Writes ``OUT/summary.json`` and ``OUT/<preset>.txt`` (the report table). All cycle figures are the
simulator's cycle model at the preset clock (not a measurement); wall-clock seconds are this host's.
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

import tvm_sepnet  # noqa: E402
from tvm_sepnet.autotune import tune  # noqa: E402
from tvm_sepnet.autotune.curve import trials_to_reach  # noqa: E402
from tvm_sepnet.fpga.report import accelerator_report, format_report  # noqa: E402
from tvm_sepnet.frontend import load_zoo  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["zcu104", "pynq-z2"])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("-o", "--output", default="benchmarks/results/fpga")
    a = ap.parse_args()
    os.makedirs(a.output, exist_ok=True)
    lm = load_zoo("sepnet-bq", image_size=a.image_size, num_classes=1000)
    x = np.random.default_rng(0).standard_normal((1, 3, a.image_size, a.image_size)).astype(np.float32)
    summary = {"image_size": a.image_size, "trials": a.trials, "presets": {}}
    for preset in a.presets:
        target = f"fpga-sim:{preset}"
        t0 = time.time()
        art = tvm_sepnet.build(lm.mod, target, **lm.config)
        build_s = time.time() - t0
        t0 = time.time()
        check = art.check({"input": x})
        sim_s = time.time() - t0
        rep = accelerator_report(art, {"input": x})
        entry = {"bit_exact": check["bit_exact"], "max_rel_err": check["max_rel_err"], "build_s": build_s,
                 "simulate_and_check_s": sim_s, "report": rep, "tuning": {}}
        for search in ("xgb", "random"):
            wd = os.path.join(a.output, f"tune-{preset}-{search}")
            shutil.rmtree(wd, ignore_errors=True)
            t0 = time.time()
            s = tune("sepnet-bq", target, a.trials, wd, search=search, trials_per_iter=4, image_size=a.image_size,
                     num_classes=1000, stream=open(os.devnull, "w"))
            big = sorted(s["tasks"], key=lambda r: -r["default_cycles"] * len(r["layers"]))[:3]
            entry["tuning"][search] = {
                "seconds": time.time() - t0, "trials": s["trials_this_run"], "default_cycles": s["default_cycles"],
                "tuned_cycles": s["tuned_cycles"], "speedup": s["speedup"],
                "largest_tasks": [{"task": r["task"], "default": r["default_cycles"], "best": r["best_cycles"],
                                   "trials": r["trials"], "space": r["space"],
                                   "trials_to_within_5pct": trials_to_reach(r["curve"])} for r in big]}
        wd = os.path.join(a.output, f"tune-{preset}-xgb")
        tuned = tvm_sepnet.build(lm.mod, target, tuning=wd, **lm.config)
        entry["tuned_bit_exact"] = tuned.check({"input": x})["bit_exact"]
        entry["tuned_report_cycles"] = accelerator_report(tuned, {"input": x})["total_cycles"]
        summary["presets"][preset] = entry
        text = format_report(rep)
        with open(os.path.join(a.output, f"{preset}.txt"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(text)
        t = entry["tuning"]
        print(f"[{preset}] bit_exact {entry['bit_exact']} (simulate + check {sim_s:.1f} s); tuned tiling: "
              f"{t['xgb']['default_cycles']:,} -> {t['xgb']['tuned_cycles']:,} cycles (x{t['xgb']['speedup']:.3f}, "
              f"xgb {t['xgb']['trials']} trials) vs random x{t['random']['speedup']:.3f}; tuned build bit_exact "
              f"{entry['tuned_bit_exact']}, {entry['tuned_report_cycles']:,.0f} cycles")
    with open(os.path.join(a.output, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, default=float)


if __name__ == "__main__":
    main()
