"""The benchmark suite: peaks, per-layer kernels, end to end; JSON and a PNG plot.

Full run (under 10 minutes here): ``tvm-sepnet bench -o benchmarks/results``; ``--quick`` is the CI
smoke mode (64×64 input, two layers, few runs): CI checks it runs and writes valid JSON, never timings.
"""
from __future__ import annotations

import json
import os
import platform
import time

from .end_to_end import bench_end_to_end
from .layers import add_rates, bench_layer, sepnet_shapes
from .peak import measure_peaks
from .plot import plot_results


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
    layers = [add_rates(bench_layer(s, runs=runs, threads=threads, act_bits_list=(1, 2) if quick else (1, 2, 4),
                                    plain_tvm=not quick), peaks) for s in shapes]
    e2e = bench_end_to_end(image_size=image, runs=runs, threads=threads, act_bits_list=(2,) if quick else (1, 2, 4),
                           plain_tvm=not quick)
    results = {"machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "threads": threads,
                           "python": platform.python_version()},
               "quick": quick, "peaks": peaks, "layers": layers, "end_to_end": e2e,
               "seconds": round(time.time() - t0, 1)}
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, ".bench.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "bench.json"))
    if plot:

        results["plot"] = plot_results(results, os.path.join(out_dir, "bench.png"))
    return results


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def summary_lines(results: dict) -> list[str]:
    """Human-readable lines: peaks, per layer, end to end."""
    p = results["peaks"]
    lines = [f"peaks ({p['threads']} threads): popcount {p['popcount'] / 1e12:.3f} T bin-MAC/s "
             f"(scalar {p['popcount_scalar'] / 1e12:.3f}, avx2 {p['popcount_avx2'] / 1e12:.3f}), "
             f"int16 {p['int16_mac'] / 1e9:.1f} G MAC/s, fp32 {p['fp32_mac'] / 1e9:.1f} G MAC/s"]
    for r in results["layers"]:
        ours = {k: v for k, v in r.items() if k.startswith("ours_") and k.endswith("_ms")}
        base = {k: v for k, v in r.items() if k.endswith("_ms") and not k.startswith("ours_")}
        lines.append(f"{r['shape']:32} x{r['count']} ours " + " ".join(f"{k[5:-3]}={v:.3f}" for k, v in ours.items())
                     + " | " + " ".join(f"{k[:-3]}={v:.3f}" for k, v in base.items()) + " ms")
    e = results["end_to_end"]
    lines.append("end to end: " + " ".join(f"{k}={v:.3f}" for k, v in e.items() if isinstance(v, float)))
    return lines
