"""Per-layer time of a compiled model *inside the model* (every kernel call charged to its layer, its
dataflow as built), with the layer's MACs, achieved rate and share of the peak of the instruction its
kernel runs on (the host's peaks from :mod:`.peak`)."""
from __future__ import annotations

import numpy as np

from tvm_sepnet.profiling import VM_BUILTINS, profile_layers


def layer_macs(row: dict) -> int:
    """MACs of a conv layer row of the artifact's layer table (``in_shape``, ``out_shape``, kernel, groups)."""
    n, o, ho, wo = row["out_shape"]
    c = row["in_shape"][1]
    kh, kw = row["kernel_size"]
    return n * o * ho * wo * (c // row["groups"]) * kh * kw


def fused_layers(layers: list[dict]) -> dict:
    """Layer name -> the layer whose kernel also computes it (a pattern block's k×k conv on the dot
    kernel of its 1×1 sibling: kernel ``dot:.../uint8+<kxk layer>``)."""
    out = {}
    for r in layers:
        kernel = str(r.get("kernel") or "")
        if "+" in kernel:
            for name in kernel.split("+")[1:]:
                out[name] = r["name"]
    return out


def peak_of(kernel: str, peaks: dict) -> tuple[str, float, int]:
    """(instruction, its peak in ops/s, operations per MAC) of the kernel a layer runs (``kernel`` as in
    the layer table: ``dot:vnni512/...``, ``binary/uint4`` (bitserial: A bit planes per MAC),
    ``int8/...``, ``float``)."""
    if kernel.startswith("dot:vnni"):
        return "vpdpbusd", peaks["vnni_mac"], 1
    if kernel.startswith("dot:ubsw"):
        return "vpmaddubsw", peaks["ubsw_mac"], 1
    if kernel.startswith("binary/") and "/uint" in kernel:
        bits = int(kernel.rsplit("uint", 1)[1].split("(")[0])
        unit = "vpopcntq" if peaks.get("popcount_avx512") else "vpshufb popcount"
        return unit, peaks["popcount"], bits
    if kernel.startswith(("dot:", "int8")):
        return "vpmaddwd (int16)", peaks["int16_mac"], 1
    return "fp32 FMA", peaks["fp32_mac"], 1


def model_layer_rows(art, inputs, peaks: dict, repeat: int = 7) -> list[dict]:
    """One row per conv layer (program order), then the other kernels and the VM's builtins:
    ``name, kernel, ms, macs, gmacs, instruction, pct_peak``."""
    return rows_from_times(art.layers, profile_layers(art, inputs, repeat=repeat), peaks)


def rows_from_times(layers: list[dict], times: dict, peaks: dict | None) -> list[dict]:
    """:func:`model_layer_rows` from per-group times ``{group: ms}`` (conv layers by name, other kernels,
    ``VM_BUILTINS``) and the layer table ``layers``; ``peaks`` None (a device whose peaks are not
    measured): ``instruction`` and ``pct_peak`` stay None. A layer that a fused kernel computes (a
    pattern block's k×k conv) has no row: its MACs count in the row of the layer whose kernel runs it."""
    times = dict(times)
    rows = []
    fused = fused_layers(layers)
    for r in layers:
        if r["kind"] == "other" or r["name"] not in times:
            continue
        macs = layer_macs(r) + sum(layer_macs(f) for f in layers if fused.get(f["name"]) == r["name"])
        ms = times.pop(r["name"])
        unit, peak, per_mac = peak_of(str(r["kernel"]), peaks) if peaks else (None, None, 1)
        rate = macs / (ms / 1e3) if ms > 0 else None
        rows.append({"name": r["name"], "kernel": r["kernel"], "ms": ms, "macs": macs,
                     "gmacs": rate / 1e9 if rate else None, "instruction": unit,
                     "pct_peak": 100 * rate * per_mac / peak if peak and rate else None})
    for name, ms in sorted(times.items(), key=lambda kv: -kv[1]):
        rows.append({"name": name if name != VM_BUILTINS else "(VM builtins)", "kernel": None, "ms": ms, "macs": None,
                     "gmacs": None, "instruction": None, "pct_peak": None})
    return rows


def total_ms(rows: list[dict]) -> float:
    return float(np.sum([r["ms"] for r in rows]))
