"""PNG plot of a benchmark run: per-layer latency bars (ours vs baselines) and end-to-end bars."""
from __future__ import annotations

from ..figures import save_figure, subplots


def plot_results(results: dict, path: str) -> str:
    import numpy as np

    layers = results["layers"]
    keys = sorted({k for r in layers for k in r if k.endswith("_ms")})
    fig, (ax1, ax2) = subplots(2, 1, figsize=(13, 9), gridspec_kw={"height_ratios": [3, 1.2]})
    width = 0.8 / max(1, len(keys))
    xs = np.arange(len(layers))
    for i, k in enumerate(keys):
        vals = [r.get(k, np.nan) for r in layers]
        ax1.bar(xs + i * width, vals, width, label=k[:-3])
    ax1.set_xticks(xs + 0.4 - width / 2)
    ax1.set_xticklabels([r["shape"] for r in layers], rotation=30, ha="right", fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("ms per layer (log)")
    ax1.legend(fontsize=7, ncol=3)
    ax1.set_title(f"tvm-sepnet kernels vs baselines ({results['machine']['cpu']}, {results['machine']['threads']} threads)")
    e = {k[:-3]: v for k, v in results["end_to_end"].items() if k.endswith("_ms") and isinstance(v, (int, float))}
    ax2.barh(list(e), list(e.values()), color=["tab:blue" if k.startswith("sepnet") else "tab:gray" for k in e])
    ax2.set_xscale("log")
    ax2.set_xlabel(f"end-to-end ms, SEP-Net {results['end_to_end']['image_size']}px (log)")
    return save_figure(fig, path, dpi=110)
