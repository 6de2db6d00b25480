"""Timing helpers shared by the benchmarks: medians of repeated runs."""
from __future__ import annotations

import platform
import time

import numpy as np


def median_seconds(fn, runs: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def tvm_median_seconds(func, args, runs: int) -> float:
    """Median seconds of a TVM function with its time_evaluator (repeat = runs)."""
    import tvm

    timer = func.time_evaluator(func.entry_name if hasattr(func, "entry_name") else "main", tvm.cpu(),
                                number=1, repeat=runs, min_repeat_ms=20)
    return float(timer(*args).median)


def ort_session(model, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for the benchmarks' machine line."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
