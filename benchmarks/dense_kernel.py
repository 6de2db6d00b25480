"""The exact float dense kernel beside the tiled conv kernel it replaced for matmuls by a constant.

For each shape ``P x K -> M`` (classifier rows, transformer tokens), builds ``float_dense_exact`` (packed
weight tiles) and ``float_conv2d_exact`` on a ``(1, K, P, 1)`` image (what ``LowerDenseExact`` emitted
before session 10), checks both bit for bit against the float64 numpy twin, and times them side by side
with TVM's ``time_evaluator`` (median of ``--repeat`` x ``--number`` runs) on ``TVM_NUM_THREADS`` threads.
Usage: ``TVM_NUM_THREADS=1 python benchmarks/dense_kernel.py [--json]``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import tvm

from schedules.float_conv2d_exact.kernel import float_conv2d_exact_prim_func
from schedules.float_dense_exact import reference
from schedules.float_dense_exact.kernel import float_dense_exact_prim_func, float_dense_exact_tile
from schedules.float_dense_exact.packing import pack_dense_weights
from tvm_sepnet.targets import host_mcpu

SHAPES = [(1, 576, 1024), (1, 1024, 1000), (1, 512, 1000), (8, 512, 1000), (32, 512, 1000), (197, 768, 768),
          (50, 768, 3072)]


def time_kernel(func, args, out_shape, number, repeat):
    """(median seconds, output) of a call_tir-style PrimFunc built for the host."""
    target = tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu()})
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    tensors = [tvm.runtime.tensor(a, dev) for a in args] + [tvm.runtime.empty(out_shape, "float32", dev)]
    seconds = float(np.median(lib.mod.time_evaluator("main", dev, number=number, repeat=repeat)(*tensors).results))
    return seconds, tensors[-1].numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for p, k, m in SHAPES:
        x = rng.standard_normal((p, k)).astype(np.float32)
        w = rng.standard_normal((k, m)).astype(np.float32)
        zero = np.zeros(m, np.float32)
        want = reference.float_dense_exact(x, w, zero)
        number = 200 if p == 1 else 20
        dense_s, dense_y = time_kernel(float_dense_exact_prim_func((p, k), m),
                                       [x, pack_dense_weights(w, float_dense_exact_tile(m)), zero], (p, m),
                                       number, args.repeat)
        image = np.ascontiguousarray(x.T).reshape(1, k, p, 1)
        conv_s, conv_y = time_kernel(float_conv2d_exact_prim_func(image.shape, (m, k, 1, 1)),
                                     [image, np.ascontiguousarray(w.T).reshape(m, k, 1, 1), zero], (1, m, p, 1),
                                     number, args.repeat)
        rows.append({"P": p, "K": k, "M": m, "dense_us": dense_s * 1e6, "conv_us": conv_s * 1e6,
                     "speedup": conv_s / dense_s, "dense_exact": bool(np.array_equal(dense_y, want)),
                     "conv_exact": bool(np.array_equal(conv_y.reshape(m, p).T, want))})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'P x K -> M':>18} {'conv us':>9} {'dense us':>9} {'speedup':>8}  bit-exact")
    for r in rows:
        print(f"{r['P']:>5} x {r['K']:>4} -> {r['M']:>4} {r['conv_us']:9.1f} {r['dense_us']:9.1f} "
              f"{r['speedup']:8.2f}  {r['conv_exact'] and r['dense_exact']}")
    return 0 if all(r["dense_exact"] and r["conv_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
