"""Throughput: images/s of a zoo model compiled for batch 1, 8, 32 (``compile --batch N``) beside
onnxruntime fp32 on the same float network (its ONNX export with a symbolic batch dimension, one
session for every batch), same threads, one run."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from .conformance import interleaved_latency
from .timing import cpu_name


def bench_throughput(name: str = "sepnet-bq", batches=(1, 8, 32), image_size: int = 224, num_classes: int = 1000,
                     threads: int | None = None, repeat: int = 5, progress=None, clock: str = "wall") -> dict:
    """{"rows": [{"batch", "ours_ms", "ours_images_per_s", "ort_ms", "ort_images_per_s", "compile_s"}], ...}:
    per batch the median over ``repeat`` rounds of the two engines timed interleaved (each round a block
    of calls of each, about 0.5 s, order rotating: :func:`.conformance.interleaved_latency`); ``clock``
    ``wall`` (perf_counter) or ``thread`` (the calling thread's CPU time: robust to other jobs on a shared
    machine; only with 1 thread, where both engines compute on the calling thread)."""
    import onnxruntime as ort
    import tvm

    import tvm_sepnet
    from tvm_sepnet.frontend import load_zoo

    threads = threads or int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))
    if clock == "thread" and threads != 1:
        from ..errors import SepnetError

        raise SepnetError("--clock thread measures the calling thread's CPU time: it needs 1 thread (TVM_NUM_THREADS=1)")
    timer = time.thread_time if clock == "thread" else time.perf_counter
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from ..models import get_model, save_onnx

        onnx_path = save_onnx(get_model(name, seed=0, image_size=image_size, num_classes=num_classes),
                              os.path.join(tmp, f"{name}.onnx"), dynamic_batch=True)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        for n in batches:
            x = np.random.default_rng(n).standard_normal((n, 3, image_size, image_size)).astype(np.float32)
            t0 = time.time()
            lm = load_zoo(name, image_size=image_size, num_classes=num_classes, batch=n)
            art = tvm_sepnet.build(lm.mod, "x86", any_batch=True, **lm.config)
            compile_s = time.time() - t0
            args = [tvm.runtime.tensor(x, tvm.cpu())]
            main, feed = art.vm["main"], {sess.get_inputs()[0].name: x}
            ms = interleaved_latency({"ours": lambda: main(*args), "ort": lambda: sess.run(None, feed)},
                                     rounds=repeat, block_seconds=0.5, clock=timer)
            ours, theirs = ms["ours"] / 1e3, ms["ort"] / 1e3
            rows.append({"batch": n, "ours_ms": 1e3 * ours, "ours_images_per_s": n / ours, "ort_ms": 1e3 * theirs,
                         "ort_images_per_s": n / theirs, "compile_s": round(compile_s, 1)})
            if progress is not None:
                progress(n)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"model": name, "image_size": image_size, "threads": threads, "clock": clock, "cpu": cpu_name(), "rows": rows,
            "onnxruntime": ort.__version__, "load_average": list(load) if load else None,
            "method": "tvm-sepnet: the VM's main of the artifact compiled for that batch; onnxruntime: one session "
                      "on the float ONNX with a symbolic batch, all graph optimizations; both timed interleaved in one "
                      f"process (blocks of about 0.5 s, order rotating), {clock} clock, median over the rounds"}


def throughput_lines(result: dict) -> list[str]:
    lines = [f"{result['model']} {result['image_size']}x{result['image_size']}, {result['threads']} thread(s), "
             f"{result['clock']} clock, "
             f"{result['cpu']}, load {result['load_average']}",
             f"{'batch':>5} {'ours ms':>9} {'ours img/s':>11} {'ORT ms':>9} {'ORT img/s':>10} {'x ORT':>6}"]
    for r in result["rows"]:
        lines.append(f"{r['batch']:5d} {r['ours_ms']:9.2f} {r['ours_images_per_s']:11.1f} {r['ort_ms']:9.2f} "
                     f"{r['ort_images_per_s']:10.1f} {r['ours_images_per_s'] / r['ort_images_per_s']:6.2f}")
    return lines


__all__ = ["bench_throughput", "throughput_lines"]
