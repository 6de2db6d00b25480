"""Timing kernels for the tuner: MetaSchedule builder and runner (local or through a TVM RPC
tracker), the evaluator settings, and interleaved re-measurement.

How a trial is timed (``EVALUATOR``; ``workdir.MEASUREMENT`` names it, so a work directory never
mixes timings): untimed warm-up runs (:func:`run_warm_evaluator`), then 25 runs of one call each,
every run starting with the kernel's weights, output and other operands flushed from the CPU caches
(all arguments but the first: the input activation, which the previous layer has just written), as in
the model, where every layer streams its tensors once; the median counts.
"""
from __future__ import annotations

import os
import shutil
import time

import numpy as np

from ..device.rpc_check import check_tracker_key
from ..tuning.workdir import median_secs

# Caches flushed before each timed run: warm-cache timings (the same buffers run back to back) rank
# memory-bound kernels wrongly (docs/measurements.md, "Timing kernels").
EVALUATOR = {"number": 1, "repeat": 25, "min_repeat_ms": 0, "enable_cpu_cache_flush": True}
WARMUP_RUNS = (3, 200)  # untimed runs before timing (run_warm_evaluator): at least 3, up to 200 ...
WARMUP_SECS = 0.03  # ... while under 30 ms


def make_runner(tracker: str | None = None, key: str | None = None, timeout: float = 60.0, workers: int | None = None):
    """LocalRunner, or an RPCRunner through ``tracker`` ("host:port") under ``key``; a trial that takes
    longer than ``timeout`` seconds (a hung device) fails."""
    from tvm.s_tir import meta_schedule as ms

    evaluator = ms.runner.EvaluatorConfig(**EVALUATOR)
    if tracker is None:
        return ms.runner.LocalRunner(timeout_sec=timeout, evaluator_config=evaluator, f_run_evaluator=run_warm_evaluator)
    host, port = check_tracker_key(tracker, key, min(timeout, 10.0))
    config = ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=key,
                                 session_priority=1, session_timeout_sec=int(timeout))
    runner = ms.runner.RPCRunner(rpc_config=config, evaluator_config=evaluator, max_workers=workers or 2,
                                 f_alloc_argument=alloc_arguments, f_run_evaluator=run_warm_evaluator_rpc)
    # MetaSchedule's RPCRunner waits for a session without a time limit: a device that hangs (alive, not
    # answering) would stall tuning forever. With the session timeout on its worker pool such a trial
    # fails, is recorded as failed, and tuning goes on.
    from tvm.support.popen_pool import PopenPoolExecutor

    runner.pool = PopenPoolExecutor(max_workers=workers or 2, timeout=timeout)
    return runner


def run_warm_evaluator(rt_mod, device, evaluator_config, repeated_args) -> list[float]:
    """MetaSchedule's evaluator after untimed warm-up runs of the kernel (``WARMUP_RUNS``,
    ``WARMUP_SECS``): the first kernels timed in a fresh runner process ran up to 1.7x slower (thread
    pool start, first-touch page faults) than the same kernel later on."""
    from tvm.s_tir.meta_schedule.runner.utils import run_evaluator_common

    func = rt_mod[rt_mod.entry_name]
    for args in repeated_args:
        start, runs = time.perf_counter(), 0
        while runs < WARMUP_RUNS[0] or (time.perf_counter() - start < WARMUP_SECS and runs < WARMUP_RUNS[1]):
            func(*args)
            device.sync()
            runs += 1
    return run_evaluator_common(rt_mod, device, evaluator_config, repeated_args)


def run_warm_evaluator_rpc(session, rt_mod, device, evaluator_config, repeated_args) -> list[float]:  # noqa: ARG001
    """:func:`run_warm_evaluator` for ``RPCRunner`` (its evaluator also gets the session)."""
    return run_warm_evaluator(rt_mod, device, evaluator_config, repeated_args)


def alloc_arguments(session, device, args_info, alloc_repeat):  # noqa: ARG001
    """RPCRunner argument allocation with host-made random data (the stock one calls
    ``tvm.contrib.random.random_fill_for_measure`` on the device, which a runtime-only board lacks)."""
    import tvm

    rng = np.random.default_rng(0)
    out = []
    for _ in range(alloc_repeat):
        args = []
        for info in args_info:
            if isinstance(info, (list, tuple)):  # serialized TensorInfo: ["TENSOR", dtype, shape]
                dtype, shape = str(info[1]), [int(v) for v in info[2]]
            else:
                dtype, shape = str(info.dtype), [int(v) for v in info.shape]
            if dtype.startswith(("int", "uint")):
                lim = np.iinfo(dtype)
                data = rng.integers(max(lim.min, -128), min(lim.max, 127) + 1, size=shape).astype(dtype)
            else:
                data = rng.standard_normal(shape).astype(dtype)
            t = tvm.runtime.empty(shape, dtype, device)
            t.copyfrom(data)
            args.append(t)
        out.append(args)
    return out


def build_kernel(mod, target, _params=None):
    """MetaSchedule builder function: MetaSchedule's default minus its ``import
    tvm.s_tir.tensor_intrin``, which registers every tensor intrinsic of every target and costs
    ~35 s in each fresh builder process here (our kernels tensorize nothing)."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def export_kernel(rt_mod, cc: str | None = None) -> str:
    """MetaSchedule export function: a shared library (cross-linked with ``cc`` for another
    architecture), so a device without a compiler can load it (the default exports a .tar that the
    device must link itself)."""
    import tempfile

    from tvm.support import cc as tcc

    path = os.path.join(tempfile.mkdtemp(prefix="sepnet-ms-"), "kernel.so")
    rt_mod.export_library(path, fcompile=tcc.cross_compiler(cc) if cc else None)
    return path


def make_builder(timeout: float = 60.0, export_cc: str | None = None):
    import functools

    from tvm.s_tir import meta_schedule as ms

    return ms.builder.LocalBuilder(max_workers=os.cpu_count() or 1, timeout_sec=timeout, f_build=build_kernel,
                                   f_export=functools.partial(export_kernel, cc=export_cc))


def measure_schedules(mods, target, builder, runner, errors: list | None = None) -> list[float | None]:
    """Median seconds of each scheduled module (None for a build or run error; the messages are
    appended to ``errors``). A module object listed several times is built once and run each time."""
    from tvm.s_tir import meta_schedule as ms

    unique = list({id(m): m for m in mods}.values())
    built = dict(zip((id(m) for m in unique), builder.build([ms.builder.BuilderInput(m, target) for m in unique])))
    if errors is not None:
        errors.extend(b.error_msg for b in built.values() if b.error_msg is not None)
    inputs, where = [], []
    out: list[float | None] = [None] * len(mods)
    for i, m in enumerate(mods):
        b = built[id(m)]
        if b.error_msg is None:
            inputs.append(ms.runner.RunnerInput(b.artifact_path, "cpu",
                                                ms.arg_info.ArgInfo.from_prim_func(m["main"])))
            where.append(i)
    for i, fut in zip(where, runner.run(inputs)):
        res = fut.result()
        if res.error_msg is None and res.run_secs:
            out[i] = median_secs(res.run_secs)
        elif errors is not None:
            errors.append(res.error_msg)
    for b in built.values():
        if b.artifact_path:
            shutil.rmtree(os.path.dirname(b.artifact_path), ignore_errors=True)
    return out


def measure_interleaved(parts: list[list], target, builder, runner, rounds: int) -> list[list[float]] | None:
    """Each entry of ``parts`` (the modules of one kernel choice, timed as their sum) measured
    ``rounds`` times, the entries interleaved round by round after one untimed run of the first, so
    every entry sees the same machine (batches a minute apart differed by up to 1.7x here, and a stall
    can slow a whole stretch of runs). Returns the runs per entry, or None if any failed."""
    order = [parts[0]] + list(parts) * rounds
    secs = sum_parts([len(mods) for mods in order],
                      measure_schedules([m for mods in order for m in mods], target, builder, runner))[1:]
    if any(v is None for v in secs):
        return None
    return [secs[i::len(parts)] for i in range(len(parts))]


def sum_parts(sizes: list[int], flat: list) -> list[float | None]:
    """Per point, the sum of its ``sizes[i]`` consecutive measurements in ``flat`` (None if one failed)."""
    out, i = [], 0
    for n in sizes:
        got = flat[i:i + n]
        i += n
        out.append(None if None in got else sum(got))
    return out
