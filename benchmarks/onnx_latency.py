"""Latency of the default low-bit build of ONNX models beside onnxruntime fp32 on the same float model.

Both engines use the machine's two threads and run in one process, timed interleaved: each round runs a
block of calls of each (about ``--block`` seconds, the order rotating), ``--rounds`` rounds; the report
gives each engine's median, min and max per-call time over the rounds and the load average before and
after (this machine is shared). ``--clock thread`` runs both engines on one thread (set
``TVM_NUM_THREADS=1``; onnxruntime gets one intra-op thread) and times the calling thread's CPU time, which
other jobs on the machine barely move (two runs agree within 1 %, where wall time scatters by 2x); to
compare two trees, run it with ``PYTHONPATH`` set to each (it compiles the model in-process)::

    python benchmarks/onnx_latency.py conformance/resnet18.dynamo.224.onnx ... [--rounds 15] [--block 1.0] \
        [--clock wall|thread] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tvm_sepnet  # noqa: E402,I001  (first: sets TVM_NUM_THREADS before the TVM runtime starts)
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tvm  # noqa: E402

from tvm_sepnet.bench.conformance import interleaved_samples  # noqa: E402
from tvm_sepnet.frontend import load_onnx  # noqa: E402


def measure(path: str, rounds: int, block: float, clock: str = "wall") -> dict:
    model = load_onnx(path)
    art = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names)
    shape = [int(v) for v in model.mod["main"].params[0].ty.shape]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert art.check(x)["match"]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = (1 if clock == "thread" else 2), 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    args = [tvm.runtime.tensor(x)]
    load_before = os.getloadavg()
    samples = interleaved_samples({"onnxruntime_fp32": lambda: sess.run(None, feed),
                                   "tvm_sepnet_lowbit": lambda: art.vm["main"](*args)}, rounds, block,
                                  clock=time.thread_time if clock == "thread" else time.perf_counter)
    stats = {k: {"median_ms": float(np.median(v)), "min_ms": float(min(v)), "max_ms": float(max(v))}
             for k, v in samples.items()}
    return {"model": os.path.basename(path), "config": art.meta["config"], "rounds": rounds, "block_s": block, "clock": clock,
            "load_before": load_before, "load_after": os.getloadavg(), **stats,
            "ratio_lowbit_to_ort": stats["tvm_sepnet_lowbit"]["median_ms"] / stats["onnxruntime_fp32"]["median_ms"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("onnx", nargs="+")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=float, default=1.0)
    parser.add_argument("--clock", choices=["wall", "thread"], default="wall",
                        help="thread: one thread each, CPU time of the calling thread (needs TVM_NUM_THREADS=1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.clock == "thread" and os.environ.get("TVM_NUM_THREADS") != "1":
        parser.error("--clock thread times the calling thread: run with TVM_NUM_THREADS=1")
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "tvm": tvm.__version__,
            "onnxruntime": ort.__version__}
    results = [measure(p, args.rounds, args.block, args.clock) for p in args.onnx]
    if args.json:
        print(json.dumps({"machine": info, "results": results}))
        return 0
    print(info)
    for r in results:
        o, t = r["onnxruntime_fp32"], r["tvm_sepnet_lowbit"]
        print(f"{r['model']:34} onnxruntime fp32 {o['median_ms']:7.2f} ms [{o['min_ms']:.2f}-{o['max_ms']:.2f}]  "
              f"tvm-sepnet low-bit {t['median_ms']:7.2f} ms [{t['min_ms']:.2f}-{t['max_ms']:.2f}]  "
              f"ratio {r['ratio_lowbit_to_ort']:.2f}  load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
