"""Synthesis of the accelerator's RTL with Yosys (``synth_xilinx``) for an accelerator description's
part family, and the resource table beside the resource model's figures
(``tvm-sepnet fpga-synth``; measured figures: docs/measurements.md).

Yosys maps the design to the family's primitives: LUT1..6 (plus LUT RAM and shift registers, counted
in the LUTs they occupy), flip-flops, DSP48E1 (7-series) / DSP48E2 (UltraScale+), RAMB36 / RAMB18
block RAM (a RAMB18 counts half) and, with ``-uram`` on UltraScale+ parts that have it, URAM288.

The flow synthesizes per module: each lane that repeats (the int8 lane pair, the binary-unit lane, the
ALU lane: ``LANES``) once, on its own, with its parameters, and the rest of the design (queues, DMA,
buffers, control, accumulation) with the lanes as black boxes; the totals count each lane per
instance. The lanes are mapped with ABC9 (``-abc9``: 15-60 % fewer LUTs than the default ABC flow,
which spends wide-mux LUTs on their adder trees, most on UltraScale+); the rest with the default flow
(Yosys 0.23's ABC9 fails an internal assertion on it). Nothing is optimized across a lane's boundary,
as in a hierarchical flow. Yosys has no timing-driven placement: the counts say whether the circuit
exists and fits, not at what clock.

The table puts each count beside the resource model of :mod:`tvm_sepnet.targets.accelerator` (the
corrected one) and beside the model before issue 20 (``MODEL_BEFORE``), and says whether the design
fits the part. A missing ``yosys`` raises :class:`SynthesisError` naming the Debian package.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

from ..errors import SepnetError
from ..targets.accelerator import BRAM36_BYTES, AcceleratorSpec
from .rtl import TOP, rtl_dir, rtl_parameters, rtl_sources

URAM_BYTES = 36864  # 288 Kb
#: LUTs a LUT-RAM / shift-register primitive occupies
LUTRAM_LUTS = {"RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
               "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "SRL16E": 1, "SRLC32E": 1}
#: the resource model of docs/fpga.md before issue 20 (kept to compare with)
MODEL_BEFORE = {"dsp_per_int8_mac": 0.5, "dsp_per_alu_lane": 5, "lut_per_alu_lane": 400, "lut_per_bit_mac": 1.25,
                "lut_control": 12000}
INSTALL_HINT = "install the Debian package yosys (bash scripts/install_system_packages.sh installs it)"


class SynthesisError(SepnetError):
    """Yosys missing or failing."""


def yosys_family(spec: AcceleratorSpec) -> str:
    """``synth_xilinx -family`` of the description's part: ``xc7`` (Zynq-7000) or ``xcup`` (UltraScale+)."""
    part = spec.part.lower()
    if part.startswith(("xczu", "xcvu", "xcku", "xcau")):
        return "xcup"
    if part.startswith("xc7"):
        return "xc7"
    raise SynthesisError(f"accelerator {spec.name!r}: no Yosys family known for part {spec.part!r} "
                         "(xc7... -> xc7, xczu... -> xcup)")


#: the lanes synthesized once each: module -> the top-level parameters it takes
LANES = {"gemm_lane_pair": ("BLOCK_IN",), "bin_lane": ("BIN_IN",), "alu_lane": ()}


def yosys_script(spec: AcceleratorSpec, stat_json: str, module: str = TOP, params: dict | None = None) -> str:
    """The Yosys script of one module of the design (``TOP``: all but the lanes, which stay black boxes;
    a lane with the description's parameters; any other module with ``params``)."""
    family = yosys_family(spec)
    lines = [f"read_verilog -sv -I{rtl_dir()} " + " ".join(rtl_sources())]
    if module == TOP:
        top = rtl_parameters(spec)
        lines.append(f"chparam {' '.join(f'-set {k} {v}' for k, v in top.items())} {TOP}")
        lines.append("blackbox " + " ".join(LANES))
        uram = " -uram" if family == "xcup" and spec.uram_bytes > 0 else ""  # only parts that have URAM
        lines.append(f"synth_xilinx -family {family} -top {TOP} -flatten -noiopad{uram}")
    else:
        if params is None:
            if module not in LANES:
                raise SynthesisError(f"module {module!r} needs its parameters (lanes: {', '.join(LANES)})")
            params = {k: rtl_parameters(spec)[k] for k in LANES[module]}
        if params:
            lines.append(f"chparam {' '.join(f'-set {k} {v}' for k, v in params.items())} {module}")
        abc9 = " -abc9" if module in LANES else ""
        lines.append(f"synth_xilinx -family {family} -top {module} -flatten -noiopad -noclkbuf{abc9}")
    lines.append(f"rename -top {module}")  # chparam named it $paramod...
    lines.append(f"tee -q -o {stat_json} stat -json")
    return "\n".join(lines) + "\n"


def _yosys(spec: AcceleratorSpec, module: str, work: str, log, params: dict | None = None) -> dict:
    """Cell counts of one module."""
    stat_json = os.path.join(work, f"{spec.name}.{module}.stat.json")
    script = os.path.join(work, f"{spec.name}.{module}.ys")
    with open(script, "w", encoding="utf-8") as f:
        f.write(yosys_script(spec, stat_json, module, params))
    proc = subprocess.run(["nice", "-n", "5", "yosys", "-q", "-l", os.path.join(work, f"{spec.name}.{module}.log"), "-s", script],
                          capture_output=True, text=True)
    if log is not None:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise SynthesisError(f"yosys failed for {module} of {spec.name} (log: {work}):\n{tail}")
    with open(stat_json, encoding="utf-8") as f:
        return json.load(f)["design"]["num_cells_by_type"]


def module_cells(spec: AcceleratorSpec, module: str, params: dict | None = None, work_dir: str | None = None) -> dict:
    """Yosys cell counts of one module of the RTL alone, for the description's part family (a lane with the
    description's parameters, another module with ``params``)."""
    if shutil.which("yosys") is None:
        raise SynthesisError(f"yosys is not installed: synthesis needs it; {INSTALL_HINT}")
    work = work_dir or tempfile.mkdtemp(prefix="sepnet-synth-")
    try:
        return _yosys(spec, module, work, None, params)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def synthesize(spec: AcceleratorSpec, work_dir: str | None = None, log=None) -> dict:
    """Run Yosys for ``spec`` (module docstring); the primitive counts of the whole design (``cells``),
    per module (``modules``: the cells of one instance and the instance count), its resources
    (:func:`resource_counts`) and the seconds it took."""
    if shutil.which("yosys") is None:
        raise SynthesisError(f"yosys is not installed: synthesis needs it; {INSTALL_HINT}")
    work = work_dir or tempfile.mkdtemp(prefix="sepnet-synth-")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    top = _yosys(spec, TOP, work, log)
    modules = {TOP: {"instances": 1, "cells": {c: n for c, n in top.items() if not _is_lane(c)}}}
    for lane in LANES:
        count = sum(n for c, n in top.items() if _is_lane(c) == lane)
        modules[lane] = {"instances": count, "cells": _yosys(spec, lane, work, log) if count else {}}
    cells: dict = {}
    for m in modules.values():
        for c, n in m["cells"].items():
            cells[c] = cells.get(c, 0) + n * m["instances"]
    out = {"accelerator": spec.name, "part": spec.part, "family": yosys_family(spec), "cells": cells, "modules": modules,
           "resources": resource_counts(cells), "seconds": time.time() - t0}
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _is_lane(cell_type: str):
    """The lane module a black-box cell type of the top instantiates, or None."""
    for lane in LANES:
        if cell_type == lane or cell_type.endswith("\\" + lane) or f"\\{lane}\\" in cell_type:
            return lane
    return None


def resource_counts(cells: dict) -> dict:
    """LUTs (logic, inverters, LUT RAM and shift registers), FFs, DSPs, BRAM36 (RAMB18 = 0.5) and URAM of
    Yosys cell counts (an inverter counts as the LUT1 it is, though placement often folds it away)."""
    def total(prefixes):
        return sum(n for c, n in cells.items() if c.startswith(prefixes))

    luts = sum(n for c, n in cells.items() if c in {f"LUT{i}" for i in range(1, 7)} | {"INV"})  # an INV is a LUT1
    luts += sum(n * LUTRAM_LUTS[c] for c, n in cells.items() if c in LUTRAM_LUTS)
    return {"luts": luts, "ffs": total(("FDRE", "FDSE", "FDCE", "FDPE")), "dsps": total(("DSP48",)),
            "bram36": total(("RAMB36",)) + total(("RAMB18",)) / 2, "uram": total(("URAM",)),
            "lutram_luts": sum(n * LUTRAM_LUTS[c] for c, n in cells.items() if c in LUTRAM_LUTS),
            "carry": total(("CARRY",))}


def part_budget(spec: AcceleratorSpec) -> dict:
    return {"luts": spec.luts, "ffs": spec.ffs, "dsps": spec.dsps, "bram36": spec.bram_bytes // BRAM36_BYTES,
            "uram": spec.uram_bytes // URAM_BYTES}


def model_before(spec: AcceleratorSpec) -> dict:
    """LUTs and DSPs of the resource model before issue 20, and the BRAM36 its byte count implied (buffer
    bytes / 4,608); it had no FF or URAM figure."""
    m = MODEL_BEFORE
    luts = m["lut_control"] + spec.bit_macs_per_cycle * m["lut_per_bit_mac"] + spec.alu_lanes * m["lut_per_alu_lane"]
    return {"luts": int(luts),
            "dsps": int(spec.block_in * spec.block_out * m["dsp_per_int8_mac"] + spec.alu_lanes * m["dsp_per_alu_lane"]),
            "bram36": round(sum(spec.buffers.values()) / BRAM36_BYTES, 1)}


def resource_table(spec: AcceleratorSpec, synth: dict) -> list[dict]:
    """Per resource: Yosys, the resource model (now), the model before issue 20, the part's budget and the fit."""
    model = {k: used for k, (used, _) in spec.resources().items()}
    model["uram"] = 0  # the RTL puts no memory in URAM (resource model)
    before = model_before(spec)
    budget = part_budget(spec)
    rows = []
    for key in ("luts", "ffs", "dsps", "bram36", "uram"):
        used = synth["resources"][key]
        rows.append({"resource": key, "yosys": used, "model": model.get(key), "model_before": before.get(key),
                     "budget": budget[key], "fits": used <= budget[key]})
    return rows


def format_table(spec: AcceleratorSpec, synth: dict) -> str:
    rows = resource_table(spec, synth)
    fits = all(r["fits"] for r in rows)
    lines = [f"{spec.name} ({spec.part}), yosys synth_xilinx -family {synth['family']}, {synth['seconds']:.0f} s: "
             f"{'fits' if fits else 'does NOT fit'}",
             f"  {'':<8} {'yosys':>10} {'model':>10} {'model<20':>10} {'part':>10}"]
    for r in rows:
        fmt = (lambda v: "-" if v is None else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")
        lines.append(f"  {r['resource']:<8} {fmt(r['yosys']):>10} {fmt(r['model']):>10} {fmt(r['model_before']):>10} "
                     f"{fmt(r['budget']):>10}{'' if r['fits'] else '  <- over'}")
    return "\n".join(lines)
