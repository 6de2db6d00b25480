"""Tuning the accelerator's tiling knobs with an XGBoost cost model against simulated cycles.

``tvm-sepnet tune MODEL --target fpga-sim:PRESET`` lands here (``tvm_sepnet.autotune.tune`` dispatches).
Tasks are the offloaded layers, deduplicated by geometry (:func:`tvm_sepnet.tuning.accelerator.task_key`); each task's space is
every ``(tile_h, slots)`` that fits the buffers (``compiler.tile_rows_fit``). A trial compiles the
layer with those knobs and runs the simulator's cycle model (``Device.run(functional=False)``: the
cycle count does not depend on the data). Trials are split across tasks by their share of the
default schedule's cycles; the search (``xgb``: XGBoost over log(cycles) after a random warm-up, or
``random``) is :func:`tvm_sepnet.autotune.knob_search.search`. The default knobs are always
measured first (the baseline, and a build never gets a tiling slower than its default).

The work directory is the same as for CPU tuning (``tvm_sepnet.tuning.workdir``: locked, bound to
one target); records are JSON lines in ``fpga_records.jsonl`` (read at build by :mod:`tvm_sepnet.tuning.accelerator`),
appended and fsynced one per trial,
so a killed run loses nothing complete; an incomplete last line is dropped by the next lock holder.
"""
from __future__ import annotations

import json
import sys
import time

from ..errors import SepnetError
from ..fpga.compiler import compile_layer, tile_rows_fit
from ..fpga.simulator import Device
from ..tuning.accelerator import RECORDS, program_key, read_records
from ..tuning.knobs import append_record, knob_id
from ..tuning.workdir import WorkDir, repair_json_lines
from . import knob_search
from .budget import allocate_trials


def space(prog, spec) -> list[dict]:
    out = []
    for slots in (2, 1):
        fits = tile_rows_fit(prog.geometry, spec, prog.kind, slots)
        out += [{"tile_h": th, "slots": slots} for th in range(1, prog.geometry["ho"] + 1) if fits(th)]
    return out


def simulate_cycles(prog, spec) -> int:
    return int(Device(spec, prog.addr["end"]).run(prog.insns, functional=False)["cycles"])


def _features(knobs: dict, prog) -> list[float]:
    ho = prog.geometry["ho"]
    tiles = -(-ho // knobs["tile_h"])
    return [knobs["tile_h"], knobs["slots"], tiles, ho - (tiles - 1) * knobs["tile_h"], knobs["tile_h"] * prog.geometry["wo"]]


def tune_accelerator(offload, spec, preset, trials: int, work_dir: str, *, search: str = "xgb", trials_per_iter: int = 8,
                     seed: int = 0, only=None, stream=None) -> dict:
    """Tune the offloaded layers of a pipeline run (``offload``: its ``OffloadReport``, with the
    programs and the arguments they were compiled from) on the accelerator ``spec``; see the module
    docstring. Returns the summary (per task: layers, default and best cycles, trials; totals over the
    model's offloaded layers)."""
    stream = stream or sys.stderr
    tasks: dict[str, dict] = {}
    for name, prog in offload.programs.items():
        t = tasks.setdefault(program_key(prog), {"layers": [], "default": prog, "name": name})
        t["layers"].append(name)
    if only:
        tasks = {k: t for k, t in tasks.items() if any(s in n for n in t["layers"] for s in only)}
        if not tasks:
            raise SepnetError(f"no accelerator task matches {only}")
    t0 = time.time()
    with WorkDir(work_dir) as wd:
        wd.check_target(preset, create=True)
        path = wd.file(RECORDS)
        repair_json_lines(path)
        done = {}
        for r in read_records(wd.path):
            if r.get("accelerator") == spec.name:
                done.setdefault(r["task"], {})[knob_id(r["knobs"])] = r["cycles"]
        default_cycles = {}
        for key, t in tasks.items():
            knobs = t["default"].knobs
            if knob_id(knobs) not in done.get(key, {}):
                cyc = simulate_cycles(t["default"], spec)
                append_record(path, {"task": key, "layers": t["layers"], "knobs": knobs, "cycles": cyc,
                                     "accelerator": spec.name, "search": "default", "time": time.time()})
                done.setdefault(key, {})[knob_id(knobs)] = cyc
            default_cycles[key] = done[key][knob_id(knobs)]
        budget = dict(zip(tasks, allocate_trials([default_cycles[k] * len(t["layers"]) for k, t in tasks.items()], trials)))
        ran = 0
        summary_tasks = []
        for key, t in tasks.items():
            cand = space(t["default"], spec)
            measured = done.get(key, {})
            todo = max(0, budget[key] - (len(measured) - 1))
            lay = offload.layers[t["name"]]

            def measure(batch):
                costs = []
                for knobs in batch:
                    prog = compile_layer(t["name"], spec=spec, knobs=knobs, **lay)
                    cyc = simulate_cycles(prog, spec)
                    append_record(path, {"task": key, "layers": t["layers"], "knobs": knobs, "cycles": cyc,
                                         "accelerator": spec.name, "search": search, "time": time.time()})
                    costs.append(cyc)
                return costs

            curve = knob_search.search(cand, measure, lambda k, prog=t["default"]: _features(k, prog), measured, todo,
                                       search=search, trials_per_iter=trials_per_iter, seed=seed)
            ran += len(curve)
            best_k = min(measured, key=measured.get)
            summary_tasks.append({"task": t["name"], "layers": t["layers"], "default_cycles": default_cycles[key],
                                  "best_cycles": measured[best_k], "best_knobs": json.loads(best_k),
                                  "trials": len(measured) - 1, "space": len(cand), "curve": curve})
            print(f"[tune fpga] {t['name']:<24} x{len(t['layers'])}  default {default_cycles[key]:>9,} cycles  best "
                  f"{measured[best_k]:>9,}  ({len(measured) - 1}/{len(cand)} points)", file=stream)
    default_total = sum(r["default_cycles"] * len(r["layers"]) for r in summary_tasks)
    best_total = sum(r["best_cycles"] * len(r["layers"]) for r in summary_tasks)
    return {"target": preset.name, "search": search, "tasks": summary_tasks, "trials_this_run": ran,
            "seconds": time.time() - t0, "default_cycles": default_total, "tuned_cycles": best_total,
            "speedup": default_total / best_total if best_total else None}
