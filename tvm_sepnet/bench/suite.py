"""The benchmark suite: peaks, per-layer kernels, end to end; JSON and a PNG plot.

Full run (under 10 minutes here): ``tvm-sepnet bench -o benchmarks/results``; ``--quick`` is the CI
smoke mode (64×64 input, two layers, few runs): CI checks it runs and writes valid JSON, never timings.
"""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

import tvm_sepnet
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.targets import get_target

from .end_to_end import bench_end_to_end
from .layers import add_rates, bench_layer, sepnet_shapes
from .model_layers import model_layer_rows
from .peak import measure_peaks
from .plot import plot_results
from .timing import cpu_name


def run_suite(out_dir: str, *, quick: bool = False, threads: int | None = None, plot: bool = True) -> dict:
    """Run everything and write ``out_dir/bench.json`` (and ``bench.png``); returns the results."""

    threads = threads or int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))
    t0 = time.time()
    image = 64 if quick else 224
    runs = 3 if quick else 20
    peaks = measure_peaks(threads, scale=1 if not quick else 1)
    shapes = sepnet_shapes(image)
    if quick:
        shapes = [next(s for s in shapes if s.k > 1), next(s for s in shapes if s.k == 1)]
    from ..progress import bar

    steps = bar(len(shapes) + 2, "bench", unit="step")
    layers = []
    for s in shapes:
        layers.append(add_rates(bench_layer(s, runs=runs, threads=threads, act_bits_list=(1, 2) if quick else (1, 2, 4),
                                            plain_tvm=not quick), peaks))
        steps.update(1)
    e2e = bench_end_to_end(image_size=image, runs=runs, threads=threads, act_bits_list=(2,) if quick else (1, 2, 4),
                           plain_tvm=not quick, rounds=1 if quick else 5, previous=not quick)
    steps.update(1)
    in_model = {}
    lm = load_zoo("sepnet-bq", image_size=image)
    x = np.random.default_rng(0).standard_normal((1, 3, image, image)).astype(np.float32)
    for bits in ((2,) if quick else (2, 4)):
        art = tvm_sepnet.build(lm.mod, "x86", **{**lm.config, "act_bits": bits})
        in_model[f"a{bits}"] = model_layer_rows(art, x, peaks, repeat=3 if quick else 7)
    steps.update(1)
    steps.close()
    results = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
                           "python": platform.python_version(), "flags": sorted(get_target("x86").features)},
               "quick": quick, "peaks": peaks, "layers": layers, "end_to_end": e2e, "layers_in_model": in_model,
               "seconds": round(time.time() - t0, 1)}
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".bench.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "bench.json"))
    if plot:
        results["plot"] = plot_results(results, os.path.join(out_dir, "bench.png"))
    return results


def summary_lines(results: dict) -> list[str]:
    """Human-readable lines: peaks, per layer, end to end."""
    p = results["peaks"]
    lines = [f"machine: {results['machine']['cpu']}, flags {' '.join(results['machine'].get('flags', []))}",
             f"peaks ({p['threads']} threads): popcount {p['popcount'] / 1e12:.3f} T bin-MAC/s "
             f"(scalar {p['popcount_scalar'] / 1e12:.3f}, avx2 {p['popcount_avx2'] / 1e12:.3f}, "
             f"vpopcntq {p.get('popcount_avx512', 0) / 1e12:.3f}), int16 vpmaddwd {p['int16_mac'] / 1e9:.1f}, "
             f"vpmaddubsw {p.get('ubsw_mac', 0) / 1e9:.1f}, VNNI {p.get('vnni_mac', 0) / 1e9:.1f}, "
             f"AMX {p.get('amx_mac', 0) / 1e9:.1f}, fp32 {p['fp32_mac'] / 1e9:.1f} G MAC/s"]
    for r in results["layers"]:
        ours = {k: v for k, v in r.items() if k.startswith("ours_") and k.endswith("_ms")}
        base = {k: v for k, v in r.items() if k.endswith("_ms") and not k.startswith("ours_")}
        lines.append(f"{r['shape']:32} x{r['count']} ours " + " ".join(f"{k[5:-3]}={v:.3f}" for k, v in ours.items())
                     + " | " + " ".join(f"{k[:-3]}={v:.3f}" for k, v in base.items()) + " ms")
    e = results["end_to_end"]
    lines.append("end to end: " + " ".join(f"{k}={v:.3f}" for k, v in e.items() if isinstance(v, float)))
    for tag, rows in results.get("layers_in_model", {}).items():
        lines.append(f"in the model ({tag}): layer, kernel, ms, G MAC/s, % of the peak of its instruction")
        for r in rows:
            pct = f"{r['pct_peak']:.0f}% of {r['instruction']}" if r.get("pct_peak") is not None else ""
            rate = f"{r['gmacs']:.0f}" if r.get("gmacs") else "-"
            lines.append(f"  {r['name'][:28]:28} {str(r['kernel'] or '')[:34]:34} {r['ms']:.3f} {rate:>5} {pct}")
    return lines
