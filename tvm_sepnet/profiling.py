"""Per-kernel and per-layer wall time of an artifact's ``main`` through the Relax VM instrument hook (CPU)."""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

VM_BUILTINS = "vm"  # the group of the VM's own calls (allocation, shape checks) in :func:`profile_layers`


def _instrumented_runs(artifact, inputs, repeat: int, clock=time.perf_counter) -> list[list[tuple[str, float]]]:
    """``repeat`` runs of ``main`` (after one warm-up run), each the list of (called function, seconds)
    in call order, seconds of ``clock`` (``time.thread_time``: the calling thread's CPU time, which holds
    the whole run when TVM's pool has one thread)."""
    import tvm
    from tvm import relax

    artifact._check_runnable_here()
    vm = relax.VirtualMachine(artifact.lib, tvm.cpu())
    checked = artifact.reference().check_inputs(inputs)
    args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in artifact.input_specs]
    started: dict = {}
    calls: list[tuple[str, float]] = []

    def instrument(func, name, before, ret, *a):  # noqa: ARG001
        if before:
            started[name] = clock()
        else:
            calls.append((str(name), clock() - started.pop(name)))
        return 0

    vm.set_instrument(instrument)
    runs = []
    for i in range(repeat + 1):  # the first run warms caches and the allocator
        calls = []
        vm["main"](*args)
        if i:
            runs.append(calls)
    return runs


def _base_name(name: str) -> str:
    return name.rstrip("0123456789_")


def profile_kernels(artifact, inputs, repeat: int = 5) -> list[dict]:
    """[{"kernel", "calls", "ms"}] sorted by time: median over ``repeat`` runs of the summed time of
    each called function (PrimFunc kernels and VM builtins), kernel names without numeric suffixes."""
    totals = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)
    runs = _instrumented_runs(artifact, inputs, repeat)
    for i, run in enumerate(runs):
        per = defaultdict(float)
        for name, secs in run:
            per[_base_name(name)] += secs
            if i == 0:
                calls[_base_name(name)] += 1
        for name, secs in per.items():
            totals[name].append(secs)
    rows = [{"kernel": k, "calls": calls[k], "ms": 1e3 * float(np.median(v))} for k, v in totals.items()]
    return sorted(rows, key=lambda r: -r["ms"])


def attribute_calls(run: list[tuple[str, float]], layer_kernels: dict[str, list[str]]) -> dict[str, float]:
    """{group: seconds} of one instrumented run: a call of a conv layer's kernels goes to that layer
    (``layer_kernels``: the kernels each layer calls, layers in program order, as ``LowerToKernels``
    emits them), any other kernel (pooling, generic ops) to its function name, the VM's builtins to
    ``VM_BUILTINS``. Raises ``ValueError`` when the calls do not follow ``layer_kernels``."""
    expected = [(kernel, layer) for layer, kernels in layer_kernels.items() for kernel in kernels]
    out: dict[str, float] = defaultdict(float)
    i = 0
    for name, secs in run:
        if i < len(expected) and name == expected[i][0]:
            out[expected[i][1]] += secs
            i += 1
        elif name.startswith("vm.builtin."):
            out[VM_BUILTINS] += secs
        else:
            out[name] += secs
    if i != len(expected):
        nxt = expected[i]
        raise ValueError(f"the model's calls do not follow its layers' kernels: kernel {nxt[0]!r} of layer "
                         f"{nxt[1]!r} was not called in order ({i} of {len(expected)} layer kernel calls matched)")
    return dict(out)


def profile_layers(artifact, inputs, repeat: int = 3, clock=time.perf_counter) -> dict[str, float]:
    """{group: ms}: median over ``repeat`` runs of each conv layer's kernel time (its quantize /
    bit-packing kernels included), of each other kernel (by function name) and of the VM builtins
    (:func:`attribute_calls`); times of ``clock`` (see :func:`_instrumented_runs`)."""
    layer_kernels = artifact.meta.get("layer_kernels")
    if layer_kernels is None:
        raise ValueError("this artifact does not record its layers' kernels (built by an older tvm-sepnet); rebuild it")
    per = defaultdict(list)
    for run in _instrumented_runs(artifact, inputs, repeat, clock):
        for group, secs in attribute_calls(run, layer_kernels).items():
            per[group].append(secs)
    return {g: 1e3 * float(np.median(v)) for g, v in per.items()}
