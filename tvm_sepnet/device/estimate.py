"""``tvm-sepnet estimate``: a static speed model of an ARM artifact's kernels with llvm-mca.

This is a **static model**, not a measurement. Per layer kernel:

1. the kernel's scheduled TIR is copied with a marker call (``sepnet_loop_marker_K``) placed just
   before each innermost loop that reaches the machine code as a loop (serial or parallel; unrolled
   and vectorized loops are straight-line code), and the number of times that loop's body runs is
   counted from the loop nest (product of the extents around and of the loop);
2. the copy is compiled to assembly for the preset's triple and core with LLVM's own loop unrolling
   off (``-unroll-threshold=0``), so each marked TIR loop is one assembly loop: the first loop after
   marker K (a label with a backward branch to it and no loop inside);
3. ``llvm-mca -mcpu CORE`` gives the cycles per iteration of each such loop body (steady state, data in
   L1, no memory stalls); the kernel's cycles are the sum over its loops of cycles per iteration x
   body runs; parallel loops are assumed to split perfectly over the cores (``cores``).

Time per layer = cycles / clock. Work outside the marked loops (prologues, epilogues outside loops,
launch overhead) and memory stalls are not counted, so the model is optimistic.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile

from ..artifact import KERNELS_JSON, LIB_NAME
from ..artifact_files import read_meta, verify_files
from ..errors import SepnetError
from ..system_tools import install_hint
from ..targets import get_target

CLOCK_GHZ = {"cortex-a53": 1.4, "cortex-a55": 1.8, "cortex-a72": 1.5, "cortex-a76": 2.4, "neoverse-n1": 2.6, "cortex-a15": 1.8,
             "cortex-a9": 1.0}  # Raspberry Pi 3 / 4 clocks for a53 / a72; typical boards otherwise
MCA_CPUS = {"cortex-a76": "neoverse-n1"}  # LLVM has no distinct cortex-a76 scheduling model
MARKER = "sepnet_loop_marker_"


class EstimateError(SepnetError):
    """llvm-mca missing, or a kernel that cannot be modelled."""


@functools.lru_cache(maxsize=None)
def llvm_mca() -> str:
    for name in ("llvm-mca", "llvm-mca-19", "llvm-mca-18", "llvm-mca-17", "llvm-mca-16", "llvm-mca-15"):
        path = shutil.which(name)
        if path:
            return path
    raise EstimateError(f"tvm-sepnet estimate needs llvm-mca, which is not installed; {install_hint(['llvm-mca-19'])}")


_FOR = re.compile(r"^(\s*)for (.+?) in (T\.serial|T\.parallel|T\.grid|T\.unroll|T\.vectorized|range)\((.*)\):\s*$")
_INT = re.compile(r"T\.int64\((\d+)\)|T\.int32\((\d+)\)|(\d+)")


def _extents(args: str) -> list[int]:
    out = []
    for part in args.split(","):
        m = _INT.search(part.strip())
        out.append(int(next(g for g in m.groups() if g is not None)) if m else 1)
    return out


def mark_innermost_loops(func, with_extents: bool = False):
    """(marked PrimFunc, [body runs of loop K]) for the serial/parallel innermost loops of ``func``.

    Works on the TVMScript text (TVM 0.27's Python API has no statement mutator): a marker call
    ``T.call_extern("int32", "sepnet_loop_marker_K")`` is inserted before each innermost looping
    ``for`` (unrolled / vectorized loops are straight-line code), and the script is parsed back."""
    import tvm

    lines = func.with_attr("global_symbol", "main").script().splitlines()
    loops = []  # (line, indent, extents, looping)
    for i, line in enumerate(lines):
        m = _FOR.match(line)
        if m:
            kind = m.group(3)
            loops.append((i, len(m.group(1)), _extents(m.group(4)), kind in ("T.serial", "T.parallel", "T.grid", "range")))
    counts: list[int] = []
    own: list[int] = []
    inserts = []
    for idx, (i, indent, ext, looping) in enumerate(loops):
        if not looping:
            continue
        # loops nested inside: following loop lines with a deeper indent, until the indent returns
        inner = False
        for j, ind2, _, loop2 in loops[idx + 1:]:
            if ind2 <= indent:
                break
            if loop2:
                inner = True
                break
        if inner:
            continue
        runs = 1
        depth = indent
        for j, ind2, ext2, _ in reversed(loops[:idx]):  # enclosing loops: earlier lines, smaller indents
            if ind2 < depth:
                for e in ext2:
                    runs *= e
                depth = ind2
        for e in ext:
            runs *= e
        inserts.append((i, indent, len(counts)))
        counts.append(runs)
        own_extent = 1
        for e in ext:
            own_extent *= e
        own.append(own_extent)
    for i, indent, k in reversed(inserts):
        lines.insert(i, " " * indent + f'T.evaluate(T.call_extern("int32", "{MARKER}{k}"))')
    # kernels written as one opaque root block (word_max_pool2d) fail the plain-TIR verifier
    marked = tvm.script.from_source("\n".join(lines), check_well_formed=False)
    if isinstance(marked, tvm.IRModule):
        marked = marked["main"]
    marked = marked.without_attr("global_symbol")
    return (marked, counts, own) if with_extents else (marked, counts)


_LABEL = re.compile(r"^(\.?L\w+|\w+):")
_BRANCH = re.compile(r"^\s+(?:b\.\w+|b\w\w|cbn?z|tbn?z|b)\s+(?:\w+,\s*)*(?:#\d+,\s*)?(\.?L\w+)\s*$")


def asm_loops(asm: str) -> list[dict]:
    """Innermost loops of an assembly text: ``{"start", "end", "body", "marker"}`` where ``marker``
    is the index K of the last ``sepnet_loop_marker_K`` call before the loop (or None)."""
    lines = asm.splitlines()
    labels = {}
    for i, line in enumerate(lines):
        m = _LABEL.match(line)
        if m:
            labels[m.group(1)] = i
    loops = []
    for i, line in enumerate(lines):
        m = _BRANCH.match(line)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            loops.append((labels[m.group(1)], i))
    inner = [(s, e) for s, e in loops if not any(s < s2 and e2 <= e and (s2, e2) != (s, e) for s2, e2 in loops)]
    out = []
    for s, e in sorted(inner):
        marker = None
        for j in range(s, -1, -1):
            if MARKER in lines[j]:
                marker = int(re.search(MARKER + r"(\d+)", lines[j]).group(1))
                break
            if j < s and re.match(r"^\s+\.type\s", lines[j]):
                break
        body = [ln for ln in lines[s + 1: e + 1] if ln.strip() and not ln.strip().startswith((".", "//", "@", ";"))
                and not _LABEL.match(ln)]
        out.append({"start": s, "end": e, "body": body, "marker": marker})
    return out


def mca_cycles(body: list[str], triple: str, cpu: str) -> float:
    """llvm-mca steady-state cycles per iteration of a loop body."""
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write("\n".join(body) + "\n")
        path = f.name
    try:
        cmd = [llvm_mca(), f"-mtriple={triple}", f"-mcpu={MCA_CPUS.get(cpu, cpu)}", "-iterations=200", path]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise EstimateError(f"llvm-mca failed: {res.stderr.strip()[-500:]}")
    total = int(re.search(r"Total Cycles:\s+(\d+)", res.stdout).group(1))
    iters = int(re.search(r"Iterations:\s+(\d+)", res.stdout).group(1))
    return total / iters


def _kernel_asm(func, target: dict) -> str:
    import tvm

    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), tvm.target.Target(target))
    mods = [lib.mod, *lib.mod.imports] if hasattr(lib, "mod") else [lib]
    return "\n".join(m.inspect_source("asm") for m in mods if getattr(m, "kind", "") == "llvm")


def _marker_ids(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for ln in lines for m in [re.search(MARKER + r"(\d+)", ln)] if m]


#: (what, structural hash of the kernel) -> [(kernel, result)]: this process's finished work, so that
#: estimating a second core or a second build of the same model (``estimate --compare``) redoes nothing
#: (parsing the marked TVMScript and compiling each kernel twice take ~1.3 s per kernel)
_MEMO: dict = {}


def _memo(what: tuple, func, compute):
    """``compute()``, or its earlier result for a structurally equal ``func`` (hash, then equality)."""
    import tvm_ffi

    slot = _MEMO.setdefault((*what, tvm_ffi.structural_hash(func)), [])
    for seen, result in slot:
        if tvm_ffi.structural_equal(seen, func):
            return result
    result = compute()
    slot.append((func, result))
    return result


def estimate_kernel(func, preset, cpu: str) -> dict:
    """Static cycles of one scheduled kernel PrimFunc on one ``cpu`` core.

    The kernel is compiled twice for the preset's triple with LLVM unrolling off: with markers (to map
    each innermost asm loop to a TIR loop) and without (the code that runs; llvm-mca reads these
    bodies). An asm loop right after marker K runs ``runs[K]`` times; an asm loop that contains markers
    is the parent of those TIR loops (TVM/LLVM unrolled them into it) and runs ``runs[K] / extent[K]``
    times; n asm loops after the same marker (copies made by unrolling an enclosing loop) share
    ``runs[K]``."""
    marked, counts, extents = _memo(("marks",), func, lambda: mark_innermost_loops(func, with_extents=True))
    target = dict(preset.target_dict)
    target["mcpu"] = cpu
    target["cl-opt"] = ["-unroll-threshold=0"]
    mapped = asm_loops(_kernel_asm(marked, target))
    plain = asm_loops(_kernel_asm(func, target))
    same_shape = len(mapped) == len(plain)
    triple = target["mtriple"]
    cycles, loops = 0.0, []
    # asm loops that follow the same marker are copies of one TIR loop (LLVM unrolled a loop around
    # it): they share its runs
    copies: dict[int, int] = {}
    for loop in mapped:
        if not _marker_ids(loop["body"]) and loop["marker"] is not None:
            copies[loop["marker"]] = copies.get(loop["marker"], 0) + 1
    for i, loop in enumerate(mapped):
        inside = _marker_ids(loop["body"])
        if inside:
            k = inside[0]
            runs = counts[k] // max(1, extents[k])
        elif loop["marker"] is not None and loop["marker"] < len(counts):
            k = loop["marker"]
            runs = counts[k] // copies[k]
        else:
            continue
        body = plain[i]["body"] if same_shape else [ln for ln in loop["body"] if MARKER not in ln]
        if not body:
            continue
        per_iter = mca_cycles(body, triple, cpu)
        loops.append({"tir_loop": k, "instructions": len(body), "cycles_per_iter": per_iter, "runs": runs})
        cycles += per_iter * runs
    return {"cycles": cycles, "loops": loops, "marked_loops": len(counts)}


def estimate_artifact(path: str, cpu: str, cores: int | None = None, clock_ghz: float | None = None) -> dict:
    """Per-layer static estimate of an ARM artifact from the scheduled kernels it stores
    (``kernels.json``: each layer's kernel functions as TIR)."""
    import tvm

    meta = read_meta(path)
    verify_files(path, meta, LIB_NAME)
    preset = get_target(meta["target"])
    if preset.machine not in ("aarch64", "armv7l"):
        raise EstimateError(f"artifact {path!r} is for {meta['target']}: estimate models ARM cores (compile for arm64/armv7)")
    if not os.path.exists(os.path.join(path, KERNELS_JSON)):
        raise EstimateError(f"artifact {path!r} has no {KERNELS_JSON}; recompile it with this version of tvm-sepnet")
    clock = clock_ghz or CLOCK_GHZ.get(cpu)
    if clock is None:
        raise EstimateError(f"no clock known for {cpu!r}; pass --clock-ghz")
    with open(os.path.join(path, KERNELS_JSON), encoding="utf-8") as f:
        kernels = json.load(f)
    cores = cores or int(preset.target_dict.get("num-cores", 1))
    per_kernel = {}
    for name, text in kernels["tir"].items():
        func = tvm.ir.load_json(text)
        per_kernel[name] = _memo(("cycles", preset.name, cpu), func, lambda: estimate_kernel(func, preset, cpu))
    groups = layer_groups(meta["layers"])
    layers = []
    for layer, names in kernels["layers"].items():
        cycles = sum(per_kernel[n]["cycles"] for n in names if n in per_kernel)
        layers.append({"layer": layer, "group": groups.get(layer, "other"), "kernels": names, "cycles_1core": cycles,
                       "ms_1core": cycles / (clock * 1e6), "ms_cores": cycles / (clock * 1e6) / cores})
    pooled = sum(v["cycles"] for k, v in per_kernel.items() if not any(k in ns for ns in kernels["layers"].values()))
    total = sum(r["cycles_1core"] for r in layers) + pooled
    by_group = {}
    for r in layers:
        by_group[r["group"]] = by_group.get(r["group"], 0.0) + r["ms_1core"]
    return {"static_model": True, "cpu": cpu, "clock_ghz": clock, "cores": cores, "target": preset.name,
            "layers": layers, "layer_groups": groups, "groups_ms_1core": by_group, "other_kernels_cycles": pooled,
            "total_ms_1core": total / (clock * 1e6), "total_ms_cores": total / (clock * 1e6) / cores,
            "note": "llvm-mca steady state of each kernel's loops x their trip counts; no memory stalls, "
                    "no launch overhead, ideal parallel split; generic ops (pooling, copies) not modelled"}


def layer_groups(rows: list[dict]) -> dict:
    """Layer name -> the group its time is reported in: ``first (float)``, ``int8 1x1``, ``int8 kxk``,
    ``binary kxk``, ``pattern block (kxk + 1x1 in one kernel)`` (a 1x1 layer whose kernel also computes
    the block's k×k conv, and that k×k layer), ``classifier`` (the last conv layer), ``other``."""
    convs = [r for r in rows if r.get("kind") != "other"]
    out = {}
    for r in convs:
        kernel = str(r.get("kernel") or "")
        if "+" in kernel:
            out[r["name"]] = "pattern block (kxk + 1x1 in one kernel)"
            out[kernel.rsplit("+", 1)[1]] = out[r["name"]]
            continue
        if r["name"] in out:
            continue
        one = tuple(r.get("kernel_size") or (1, 1)) == (1, 1)
        if r["kind"] == "float_conv":
            out[r["name"]] = "float conv"
        elif r["kind"] == "binary_conv":
            out[r["name"]] = "binary kxk"
        else:
            out[r["name"]] = "int8 1x1" if one else "int8 kxk"
    if convs:
        out[convs[-1]["name"]] = "classifier (last layer)"
    return out


def compare_estimates(new: dict, old: dict) -> dict:
    """Per layer and per group: ``old`` ms, ``new`` ms (1 core) and the speedup ``old / new``."""
    old_ms = {r["layer"]: r["ms_1core"] for r in old["layers"]}
    rows = [{"layer": r["layer"], "group": r["group"], "old_ms": old_ms.get(r["layer"]), "new_ms": r["ms_1core"]}
            for r in new["layers"]]
    # a layer without kernels of its own in the new build (computed in another layer's kernel)
    rows += [{"layer": name, "group": new.get("layer_groups", {}).get(name, "(not in the new build)"), "old_ms": ms,
              "new_ms": None} for name, ms in old_ms.items() if name not in {r["layer"] for r in new["layers"]}]
    groups = {}
    for r in rows:  # a layer's group as the new build reports it (fused blocks gather both layers)
        g = groups.setdefault(r["group"], {"old_ms": 0.0, "new_ms": 0.0})
        g["old_ms"] += r["old_ms"] or 0.0
        g["new_ms"] += r["new_ms"] or 0.0
    for r in list(rows) + list(groups.values()):
        r["speedup"] = r["old_ms"] / r["new_ms"] if r.get("old_ms") and r.get("new_ms") else None
    return {"layers": rows, "groups": groups, "old_total_ms_1core": old["total_ms_1core"],
            "new_total_ms_1core": new["total_ms_1core"],
            "speedup": old["total_ms_1core"] / new["total_ms_1core"] if new["total_ms_1core"] else None}
