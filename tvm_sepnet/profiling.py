"""Per-kernel wall time of an artifact's ``main`` through the Relax VM instrument hook (CPU)."""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np


def profile_kernels(artifact, inputs, repeat: int = 5) -> list[dict]:
    """[{"kernel", "calls", "ms"}] sorted by time: median over ``repeat`` runs of the summed time of
    each called function (PrimFunc kernels and VM builtins), kernel names without numeric suffixes."""
    import tvm

    from tvm import relax

    vm = relax.VirtualMachine(artifact.lib, tvm.cpu())
    checked = artifact.reference().check_inputs(inputs)
    args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in artifact.input_specs]
    runs = []
    state = {}

    def instrument(func, name, before, ret, *a):  # noqa: ARG001
        if before:
            state[name] = time.perf_counter()
        else:
            totals[str(name)] += time.perf_counter() - state.pop(name)
            counts[str(name)] += 1
        return 0

    vm.set_instrument(instrument)
    for _ in range(repeat + 1):
        totals, counts = defaultdict(float), defaultdict(int)
        vm["main"](*args)
        runs.append((dict(totals), dict(counts)))
    runs = runs[1:]  # the first run warms caches and the allocator
    merged = defaultdict(list)
    calls = defaultdict(int)
    for totals, counts in runs:
        per = defaultdict(float)
        for name, t in totals.items():
            per[name.rstrip("0123456789_")] += t
        for name, c in counts.items():
            calls[name.rstrip("0123456789_")] = calls.get(name.rstrip("0123456789_"), 0)
        for name, t in per.items():
            merged[name].append(t)
    for name, c in runs[0][1].items():
        calls[name.rstrip("0123456789_")] += c
    rows = [{"kernel": k, "calls": calls[k], "ms": 1e3 * float(np.median(v))} for k, v in merged.items()]
    return sorted(rows, key=lambda r: -r["ms"])
