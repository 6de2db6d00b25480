"""Depthwise int8 conv kernels on the depthwise shapes of torchvision's MobileNet-v2 and MobileNet-v3-small.

Builds ``int8_conv2d`` (uint8 codes in, one output channel per group, ReLU, float32 out) for each shape with
the x86 family's schedule, checks it bit for bit against the numpy twin, and times it with TVM's
``time_evaluator`` (median of 5 x 20 runs) on ``TVM_NUM_THREADS`` threads. To compare two trees, run it
with ``PYTHONPATH`` set to each. Usage: ``TVM_NUM_THREADS=1 python benchmarks/depthwise_kernel.py [--json]``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import tvm

from schedules.int8_conv2d import reference
from schedules.int8_conv2d.kernel import int8_conv2d_prim_func
from tvm_sepnet.targets import get_target

# (model, channels, input size, kernel, stride)
SHAPES = [
    ("mobilenet_v2", 96, 112, 3, 2), ("mobilenet_v2", 144, 56, 3, 1), ("mobilenet_v2", 144, 56, 3, 2),
    ("mobilenet_v2", 192, 28, 3, 1), ("mobilenet_v2", 384, 14, 3, 1), ("mobilenet_v2", 960, 7, 3, 1),
    ("mobilenet_v3_small", 16, 112, 3, 2), ("mobilenet_v3_small", 72, 56, 3, 2),
    ("mobilenet_v3_small", 88, 28, 3, 1), ("mobilenet_v3_small", 96, 28, 5, 2),
    ("mobilenet_v3_small", 240, 14, 5, 1), ("mobilenet_v3_small", 288, 14, 5, 2),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    target = get_target("x86").tvm_target()
    dev = tvm.cpu()
    rng = np.random.default_rng(0)
    rows = []
    for model, c, size, k, stride in SHAPES:
        geo = dict(strides=(stride, stride), padding=k // 2, groups=c)
        x = rng.integers(0, 256, (1, c, size, size)).astype(np.uint8)
        w = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
        scale = rng.uniform(1e-3, 1e-2, c).astype(np.float32)
        offset = rng.uniform(-100, 100, c).astype(np.float32)
        want = reference.int8_conv2d(x, w, scale, offset, relu=True, **geo)
        func = int8_conv2d_prim_func(x.shape, "uint8", w.shape, relu=True, family="x86", **geo)
        lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
        tensors = [tvm.runtime.tensor(a, dev) for a in (x, w, scale, offset)] + [tvm.runtime.empty(want.shape, "float32", dev)]
        seconds = float(np.median(lib.mod.time_evaluator("main", dev, number=20, repeat=5)(*tensors).results))
        rows.append({"model": model, "channels": c, "size": size, "kernel": k, "stride": stride, "ms": seconds * 1e3,
                     "bit_exact": bool(np.array_equal(tensors[-1].numpy(), want))})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['model']:<19} {r['channels']:>4} x {r['size']:>3}^2 {r['kernel']}x{r['kernel']} stride {r['stride']}: "
                  f"{r['ms']:.3f} ms  bit-exact {r['bit_exact']}")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
