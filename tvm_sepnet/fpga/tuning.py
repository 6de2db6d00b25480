"""Tuning the accelerator's tiling knobs with an XGBoost cost model against simulated cycles.

``tvm-sepnet tune MODEL --target fpga-sim:PRESET`` lands here (``tvm_sepnet.tuning.tune`` dispatches).
Tasks are the offloaded layers, deduplicated by geometry (:func:`task_key`); each task's space is
every ``(tile_h, slots)`` that fits the buffers (``compiler.tile_rows_fit``). A trial compiles the
layer with those knobs and runs the simulator's cycle model (``Device.run(functional=False)``: the
cycle count does not depend on the data). Trials are split across tasks by their share of the
default schedule's cycles; the search (``xgb``: XGBoost over log(cycles) after a random warm-up, or
``random``) is :func:`tvm_sepnet.tuning.knob_search.search`. The default knobs are always
measured first (the baseline, and a build never gets a tiling slower than its default).

The work directory is the same as for CPU tuning (``tvm_sepnet.tuning.workdir``: locked, bound to
one target); records are JSON lines in ``fpga_records.jsonl``, appended and fsynced one per trial,
so a killed run loses nothing complete; an incomplete last line is dropped by the next lock holder.
"""
from __future__ import annotations

import json
import os
import sys
import time

from ..errors import SepnetError
from ..tuning import knob_search
from ..tuning.knob_search import append_record, knob_id
from .compiler import compile_layer, tile_rows_fit
from .simulator import Device

RECORDS = "fpga_records.jsonl"
TASK_FIELDS = ("c", "h", "w", "o", "groups", "cg_real", "og_real", "kh", "kw", "sh", "sw", "dh", "dw", "pad", "residual", "relu")


def task_key(geometry: dict, kind: str, bits: int) -> str:
    """Geometry + unit + activation bits: layers with equal keys share their tuning (records also
    name the accelerator)."""
    return json.dumps({"kind": kind, "bits": bits, **{k: geometry[k] for k in TASK_FIELDS}}, sort_keys=True)


def program_key(prog) -> str:
    return task_key(prog.geometry, prog.kind, prog.quant["bits"])


def space(prog, spec) -> list[dict]:
    out = []
    for slots in (2, 1):
        fits = tile_rows_fit(prog.geometry, spec, prog.kind, slots)
        out += [{"tile_h": th, "slots": slots} for th in range(1, prog.geometry["ho"] + 1) if fits(th)]
    return out


def simulate_cycles(prog, spec) -> int:
    return int(Device(spec, prog.addr["end"]).run(prog.insns, functional=False)["cycles"])


def read_records(work_dir: str) -> list[dict]:
    """Complete record lines (a reader's snapshot: an incomplete last line is skipped)."""
    return knob_search.read_records(os.path.join(work_dir, RECORDS))


def best_knobs(work_dir: str, spec_name: str) -> dict:
    """{task key: (knobs, cycles)} of the fastest record per task (never slower than the default: the
    default is a record too)."""
    best = {}
    for r in read_records(work_dir):
        if r.get("accelerator") != spec_name:
            continue
        if r["task"] not in best or r["cycles"] < best[r["task"]][1]:
            best[r["task"]] = (r["knobs"], r["cycles"])
    return best


def _features(knobs: dict, prog) -> list[float]:
    ho = prog.geometry["ho"]
    tiles = -(-ho // knobs["tile_h"])
    return [knobs["tile_h"], knobs["slots"], tiles, ho - (tiles - 1) * knobs["tile_h"], knobs["tile_h"] * prog.geometry["wo"]]


def tune_accelerator(offload, preset, trials: int, work_dir: str, *, search: str = "xgb", trials_per_iter: int = 8,
                     seed: int = 0, only=None, stream=None) -> dict:
    """Tune the layers of an ``OffloadToAccelerator`` pass that already ran (``offload.layers`` and
    ``offload.programs``); see the module docstring. Returns the summary (per task: layers, default
    and best cycles, trials; totals over the model's offloaded layers)."""
    from ..tuning.tuner import allocate_trials
    from ..tuning.workdir import WorkDir, repair_json_lines

    stream = stream or sys.stderr
    spec = offload.spec
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


class TunedTiling:
    """The best recorded tiling per task of a work directory, for ``OffloadToAccelerator`` (called per
    layer before it is compiled, so each layer is compiled once). ``check_matched`` raises
    ``TuningMismatchError`` when records exist but none matched a layer (a directory of another model
    never yields a silently untuned build)."""

    def __init__(self, work_dir: str, preset, spec):
        from ..tuning.workdir import WorkDir

        with WorkDir(work_dir, lock=False, create=False) as wd:
            wd.check_target(preset, create=False)
        self.work_dir = work_dir
        self.best = best_knobs(work_dir, spec.name)
        self.used: set[str] = set()
        self.layers = {"tuned": 0, "default": 0}

    def __call__(self, geometry: dict, kind: str, bits: int):
        """Knobs for a layer, or None (its default tiling)."""
        key = task_key(geometry, kind, bits)
        found = self.best.get(key)
        self.layers["tuned" if found else "default"] += 1
        if found:
            self.used.add(key)
            return found[0]
        return None

    def check_matched(self) -> None:
        from ..tuning.records import TuningMismatchError

        if self.best and not self.used:
            raise TuningMismatchError(f"tuning directory {self.work_dir!r} has {len(self.best)} accelerator task(s), "
                                      "none of which matches a layer of this model: tuned for another model?")

    def summary(self) -> dict:
        return {"work_dir": os.path.abspath(self.work_dir), **self.layers, "records_used": len(self.used),
                "records": len(self.best)}
