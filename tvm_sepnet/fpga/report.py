"""Reports of an fpga-sim artifact: per-layer cycles and unit utilization, DRAM traffic, images/s at
the preset clock, resources vs the device budget, and whether the weights fit on chip.

All times are the simulator's cycle model (``simulator`` module docstring) at the preset clock, not
measurements; with ``engine="rtl"`` (``fpga-report --rtl``) the cycles are the RTL's under Verilator
(``cosim``), with the cycle model's beside them per layer (``model_cycles``). Offloaded layers run one
after the other (a layer's first tile waits for the previous
layer's output in DRAM); host layers (the float first conv, pooling) are listed, not timed.

The float k×k comparison (``float_kxk``) answers "what if the k×k weights were not binarized" with an
analytic model, labelled so: float32 k×k weights take 4 bytes each on chip (vs 1 bit), and their MACs
run on a float32 array built from the int8 core's DSP budget (``DSP_PER_FP32_MAC`` DSPs per MAC instead
of ``0.5``), streaming the weights from DRAM when they do not fit on chip:
``cycles = max(MACs / fp32 MACs per cycle, weight bytes / DRAM bytes per cycle)`` per layer.
"""
from __future__ import annotations

import numpy as np

from ..targets.accelerator import DSP_PER_INT8_MAC
from .runtime import COUNTERS
from .simulator import Device

DSP_PER_FP32_MAC = 5


def weight_count(prog) -> int:
    """Weights of the layer as the model stores them (no block padding, no block-diagonal zeros)."""
    g = prog.geometry
    return g["o"] * g["cg_real"] * g["kh"] * g["kw"]


def layer_work(prog) -> dict:
    """Useful MACs of an offloaded layer for one image (bit-MACs x activation bits for BGEMM)."""
    macs = weight_count(prog) * prog.geometry["ho"] * prog.geometry["wo"]
    return {"macs": macs, "bit_macs": macs * prog.quant["bits"] if prog.kind == "bgemm" else 0}


def weight_bytes(prog) -> int:
    """On-chip bytes the layer's weights + epilogue params need (its DRAM image, blocked and padded)."""
    return int(prog.image.size)


def accelerator_report(art, inputs=None, engine: str | None = None) -> dict:
    """Run ``art`` once (batch of the model's input shape) on ``engine`` (None: the artifact's target's)
    and report (module docstring)."""
    spec = art.accelerator
    if spec is None:
        raise ValueError("not an fpga-sim artifact")
    if engine is not None:
        art.use_accelerator_engine(engine)
    rtl = art.accelerator_engine == "rtl"
    if inputs is None:
        rng = np.random.default_rng(0)
        inputs = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in art.input_specs}
    COUNTERS.clear()
    art.run(inputs)
    batch = int(art.input_specs[0]["shape"][0])
    clock = spec.clock_mhz * 1e6
    rows, total = [], {"cycles": 0, "dram_read": 0, "dram_write": 0}
    for name, prog in art.programs.items():
        st = COUNTERS[name]
        cyc = st["cycles"] / batch
        work = layer_work(prog)
        peak = spec.bit_macs_per_cycle if prog.kind == "bgemm" else spec.int8_macs_per_cycle
        useful = (work["bit_macs"] if prog.kind == "bgemm" else work["macs"]) / (cyc * peak)
        busy = {u: st[u] / st["cycles"] for u in ("load", "gemm", "bgemm", "alu", "store")}
        rows.append({"layer": name, "unit": "binary" if prog.kind == "bgemm" else "int8", "cycles": cyc,
                     "ms": cyc / clock * 1e3, "busy": busy, "mac_utilization": useful,
                     "dram_bytes": (st["dram_read"] + st["dram_write"]) / batch, "macs": work["macs"],
                     "tile_h": prog.knobs["tile_h"], "tiles": prog.tiles, "weight_bytes": weight_bytes(prog)})
        if rtl:
            rows[-1]["model_cycles"] = Device(spec, 0).run(prog.insns, functional=False)["cycles"]
        total["cycles"] += cyc
        total["dram_read"] += st["dram_read"] / batch
        total["dram_write"] += st["dram_write"] / batch
    host = [r["name"] for r in art.layers if r["name"] not in art.programs and r["kind"] != "other"]
    resources = spec.resources()
    need = sum(r["weight_bytes"] for r in rows)
    return {
        "accelerator": spec.name, "part": spec.part, "clock_mhz": spec.clock_mhz, "layers": rows, "host_layers": host,
        "total_cycles": total["cycles"], "total_ms": total["cycles"] / clock * 1e3,
        "images_per_s": clock / total["cycles"] if total["cycles"] else None,
        "dram_bytes": total["dram_read"] + total["dram_write"],
        "resources": {k: {"used": u, "budget": b} for k, (u, b) in resources.items()},
        "weights_on_chip": {"need": need, "free": spec.free_on_chip_bytes(), "fits": need <= spec.free_on_chip_bytes()},
        "float_kxk": float_kxk_model(art, spec, rows),
        "engine": art.accelerator_engine,
        "note": ("RTL under Verilator (cycles from start to done) at the preset clock, batch 1; host layers not timed" if rtl
                 else "cycle model of the simulator at the preset clock, batch 1; host layers not timed"),
    }


def float_kxk_model(art, spec, rows) -> dict:
    """The same network with float32 k×k weights (analytic, module docstring)."""
    fp32_macs = max(1, int(spec.block_in * spec.block_out * DSP_PER_INT8_MAC / DSP_PER_FP32_MAC))
    kxk = {n for n, p in art.programs.items() if p.geometry["kh"] * p.geometry["kw"] > 1}
    float_w = {n: 4 * weight_count(art.programs[n]) for n in kxk}
    other = sum(r["weight_bytes"] for r in rows if r["layer"] not in kxk)
    need = other + sum(float_w.values())
    fits = need <= spec.free_on_chip_bytes()
    cycles = 0.0
    for r in rows:
        if r["layer"] in kxk:
            stream = 0 if fits else float_w[r["layer"]] / spec.dram_bytes_per_cycle
            cycles += max(r["macs"] / fp32_macs, stream)
        else:
            cycles += r["cycles"]
    clock = spec.clock_mhz * 1e6
    return {"weights_on_chip": {"need": need, "free": spec.free_on_chip_bytes(), "fits": fits},
            "fp32_macs_per_cycle": fp32_macs, "total_cycles": cycles, "images_per_s": clock / cycles if cycles else None,
            "note": f"analytic: float32 k×k MACs on {fp32_macs} fp32 MACs/cycle ({DSP_PER_FP32_MAC} DSPs each, the "
                    "int8 core's DSP budget), weights streamed from DRAM when they do not fit on chip"}


def format_report(rep: dict) -> str:
    rtl = rep.get("engine") == "rtl"
    what = "RTL under Verilator" if rtl else "SIMULATED (cycle model, not a measurement)"
    lines = [f"{what}: {rep['accelerator']} ({rep['part']}) at {rep['clock_mhz']:g} MHz",
             f"{'layer':<22} {'unit':<6} {'cycles':>10} " + (f"{'model':>10} " if rtl else "") +
             f"{'ms':>8} {'MAC util':>8} {'gemm':>5} {'bgemm':>5} {'alu':>5} {'load':>5} {'store':>5} {'DRAM KB':>8} "
             f"{'tile_h':>6}"]
    for r in rep["layers"]:
        b = r["busy"]
        model = f"{r['model_cycles']:>10,.0f} " if rtl else ""
        lines.append(f"{r['layer'][:22]:<22} {r['unit']:<6} {r['cycles']:>10,.0f} {model}{r['ms']:>8.3f} "
                     f"{r['mac_utilization']:>8.1%} "
                     f"{b['gemm']:>5.0%} {b['bgemm']:>5.0%} {b['alu']:>5.0%} {b['load']:>5.0%} {b['store']:>5.0%} "
                     f"{r['dram_bytes'] / 1024:>8.1f} {r['tile_h']:>6}")
    lines.append(f"total: {rep['total_cycles']:,.0f} cycles = {rep['total_ms']:.3f} ms -> {rep['images_per_s']:.1f} images/s "
                 f"(accelerator layers; host layers not timed: {', '.join(rep['host_layers']) or 'none'}); "
                 f"DRAM {rep['dram_bytes'] / 2**20:.2f} MiB/image")
    res = rep["resources"]
    lines.append("resources (model): " + ", ".join(f"{k} {v['used']:,}/{v['budget']:,} ({v['used'] / v['budget']:.0%})"
                                                   for k, v in res.items()))
    w = rep["weights_on_chip"]
    fit = "fit" if w["fits"] else "do NOT fit"
    lines.append(f"weights + params on chip: need {w['need']:,} B, free {w['free']:,} B -> {fit}")
    f = rep["float_kxk"]
    lines.append(f"same network with float32 k×k weights ({f['note']}): need {f['weights_on_chip']['need']:,} B on chip -> "
                 f"{'fit' if f['weights_on_chip']['fits'] else 'do NOT fit'}; {f['images_per_s']:.1f} images/s")
    return "\n".join(lines)
