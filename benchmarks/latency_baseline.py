"""Issue #2's baseline latency line, measured in one run on this machine:

sepnet-bq compiled by tvm-sepnet (x86 preset, hand schedules) vs the float SEP-Net (sepnet-r) compiled
with plain ``tvm.compile`` (Relax default pipeline, no tuning) vs onnxruntime fp32 on the exported float
ONNX. Median of repeated runs, both threads. Usage: ``python benchmarks/latency_baseline.py [--json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform

import numpy as np
import tvm
from tvm import relax

import tvm_sepnet  # noqa: F401  (sets TVM_NUM_THREADS before the TVM runtime starts)
from tvm_sepnet.bench.timing import median_seconds
from tvm_sepnet.builder import build
from tvm_sepnet.models import default_config, get_model, to_onnx, to_relax
from tvm_sepnet.targets import get_target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    net = get_model("sepnet-r", image_size=args.image_size)
    x = np.random.default_rng(0).standard_normal(net.input_shape).astype("float32")
    threads = int(os.environ.get("TVM_NUM_THREADS", "1"))
    results = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "threads": threads, "image_size": args.image_size, "runs": args.runs}

    cfg = default_config("sepnet-bq")
    art = build(to_relax(net), "x86", kxk=cfg["kxk"], pointwise=cfg["pointwise"], act_bits=cfg["act_bits"])
    results["sepnet_bq_tvm_sepnet_ms"] = 1e3 * art.time(x, number=args.runs, repeat=5)

    target = get_target("x86").tvm_target()
    ex = tvm.compile(to_relax(net), target=target, relax_pipeline=relax.get_default_pipeline(target))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    xt = tvm.runtime.tensor(x, tvm.cpu())
    results["sepnet_r_plain_tvm_ms"] = 1e3 * float(
        vm.time_evaluator("main", tvm.cpu(), number=args.runs, repeat=5)(xt).median)

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(to_onnx(net).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    results["sepnet_r_onnxruntime_fp32_ms"] = 1e3 * median_seconds(lambda: sess.run(None, feed), args.runs)

    base = results["sepnet_r_onnxruntime_fp32_ms"]
    results["ratio_bq_vs_onnxruntime"] = results["sepnet_bq_tvm_sepnet_ms"] / base
    results["ratio_plain_tvm_vs_onnxruntime"] = results["sepnet_r_plain_tvm_ms"] / base
    if args.json:
        print(json.dumps(results))
    else:
        print(f"sepnet-bq (tvm-sepnet, x86) {results['sepnet_bq_tvm_sepnet_ms']:.2f} ms | "
              f"sepnet-r plain tvm.compile {results['sepnet_r_plain_tvm_ms']:.2f} ms | "
              f"sepnet-r onnxruntime fp32 {base:.2f} ms  ({threads} threads, {args.image_size}x{args.image_size})")
    return results


if __name__ == "__main__":
    main()
