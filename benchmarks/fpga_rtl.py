"""Issue #20 benchmark: sepnet-bq (224x224, 1000 classes) on the accelerator's RTL under Verilator, per
preset: the output bit-exact with the reference executor and the Python simulator, the RTL's cycles
per layer beside the cycle model's (and where they differ, per instruction kind), the simulation
speed (RTL cycles per second of this host) and the RTL build time.

    python benchmarks/fpga_rtl.py --presets zcu104 -o benchmarks/results/fpga_rtl [--layers N]

``--layers N`` runs the first N offloaded layers only (each on its real input from the simulated run
of the whole model). Writes ``OUT/<preset>.json`` and prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import tvm_sepnet  # noqa: E402
from tvm_sepnet.fpga import cosim, isa, runtime  # noqa: E402
from tvm_sepnet.fpga.simulator import Device  # noqa: E402
from tvm_sepnet.frontend import load_zoo  # noqa: E402


def layer_inputs(art, x):
    """Each offloaded layer's (input, residual) arrays in the simulated run of ``x``."""
    captured = {}
    original = runtime.run_layer

    def spy(prog, spec, inp, residual=None, engine="sim"):
        captured[prog.name] = (inp.copy(), None if residual is None else residual.copy())
        return original(prog, spec, inp, residual, engine)

    runtime.run_layer = spy
    try:
        art.run({"input": x})
    finally:
        runtime.run_layer = original
    return captured


def by_kind(prog_words, model_sched, rtl_sched):
    """Sum over instructions of (RTL duration - model duration), per instruction kind."""
    out = {}
    for insn, (ms, me), (rs, re) in zip(isa.decode_program(prog_words), model_sched, rtl_sched):
        kind = insn.op + (f"/{['affine', 'add', 'relu', 'min', 'max', 'shr'][insn.args['op']]}" if insn.op == "ALU" else "")
        d = out.setdefault(kind, {"n": 0, "model": 0, "rtl": 0})
        d["n"] += 1
        d["model"] += me - ms
        d["rtl"] += re - rs
    return out


def run_preset(lm, preset, x, n_layers, out_dir):
    t0 = time.time()
    spec_build = cosim.build_model(tvm_sepnet.targets.accelerator.load_spec(preset))
    build_s = time.time() - t0
    with open(os.path.join(os.path.dirname(spec_build), "build.json"), encoding="utf-8") as f:
        built = json.load(f)
    art = tvm_sepnet.build(lm.mod, f"fpga-sim:{preset}", **lm.config)
    spec = art.accelerator
    names = list(art.programs)[:n_layers] if n_layers else list(art.programs)
    entry = {"preset": preset, "rtl_build_s": built["seconds"], "rtl_load_s": build_s, "layers": []}
    if n_layers is None:  # the whole model, end to end, on both engines
        ref = art.reference().run({"input": x})[0]
        t0 = time.time()
        sim_out = art.run({"input": x})[0]
        sim_s = time.time() - t0
        sim_counters = {k: dict(v) for k, v in runtime.COUNTERS.items()}
        art.use_accelerator_engine("rtl")
        t0 = time.time()
        rtl_out = art.run({"input": x})[0]
        rtl_s = time.time() - t0
        rtl_counters = {k: dict(v) for k, v in runtime.COUNTERS.items()}
        entry.update(bit_exact_reference=bool(np.array_equal(rtl_out, ref)),
                     bit_exact_simulator=bool(np.array_equal(rtl_out, sim_out)),
                     simulator_bit_exact_reference=bool(np.array_equal(sim_out, ref)), model_run_s=rtl_s, sim_run_s=sim_s)
    else:  # the first layers, each on its input in the simulated run
        inputs = layer_inputs(art, x)
        sim_counters, rtl_counters, same = {}, {}, True
        rtl_s = 0.0
        for name in names:
            inp, res = inputs[name]
            y_sim, sim_counters[name] = runtime.run_layer(art.programs[name], spec, inp, res)
            t0 = time.time()
            y_rtl, rtl_counters[name] = runtime.run_layer(art.programs[name], spec, inp, res, engine="rtl")
            rtl_s += time.time() - t0
            same = same and bool(np.array_equal(y_sim, y_rtl))
        entry.update(bit_exact_simulator=same, model_run_s=rtl_s)
    total_rtl = total_model = 0
    for name in names:
        prog = art.programs[name]
        model = Device(spec, 0).run(prog.insns, functional=False, schedule=True)
        rtl = rtl_counters[name]
        kinds = by_kind(prog.insns, model["schedule"], rtl["schedule"])
        entry["layers"].append({"layer": name, "unit": prog.kind, "model_cycles": model["cycles"], "rtl_cycles": rtl["cycles"],
                                "simulator_cycles": sim_counters[name]["cycles"], "by_kind": kinds,
                                "fetch_bytes": rtl["fetch_bytes"]})
        total_rtl += rtl["cycles"]
        total_model += model["cycles"]
    entry.update(rtl_cycles=total_rtl, model_cycles=total_model, rtl_cycles_per_s=total_rtl / entry["model_run_s"])
    with open(os.path.join(out_dir, f"{preset}.json"), "w", encoding="utf-8") as f:
        json.dump(entry, f, indent=1)
    return entry


def print_entry(e):
    print(f"== {e['preset']}: RTL build {e['rtl_build_s']:.0f} s (cached: {e['rtl_load_s']:.1f} s to load)")
    print(f"{'layer':<22} {'unit':<6} {'model':>10} {'RTL':>10} {'RTL/model':>9}  largest differences (RTL - model cycles)")
    for r in e["layers"]:
        diffs = sorted(((k, d["rtl"] - d["model"]) for k, d in r["by_kind"].items()), key=lambda kv: -abs(kv[1]))[:3]
        print(f"{r['layer'][:22]:<22} {r['unit']:<6} {r['model_cycles']:>10,} {r['rtl_cycles']:>10,} "
              f"{r['rtl_cycles'] / r['model_cycles']:>9.3f}  " + ", ".join(f"{k} {v:+,}" for k, v in diffs))
    print(f"total: model {e['model_cycles']:,} cycles, RTL {e['rtl_cycles']:,} ({e['rtl_cycles'] / e['model_cycles']:.3f}); "
          f"RTL simulation {e['model_run_s']:.1f} s = {e['rtl_cycles_per_s']:,.0f} cycles/s")
    for k in ("bit_exact_reference", "bit_exact_simulator", "simulator_bit_exact_reference"):
        if k in e:
            print(f"{k}: {e[k]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["zcu104"])
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--layers", type=int, help="only the first N offloaded layers")
    ap.add_argument("-o", "--output", default="benchmarks/results/fpga_rtl")
    a = ap.parse_args()
    os.makedirs(a.output, exist_ok=True)
    lm = load_zoo("sepnet-bq", image_size=a.image_size, num_classes=1000)
    x = np.random.default_rng(0).standard_normal((1, 3, a.image_size, a.image_size)).astype(np.float32)
    for preset in a.presets:
        print_entry(run_preset(lm, preset, x, a.layers, a.output))


if __name__ == "__main__":
    main()
