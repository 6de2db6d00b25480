"""Every kernel of a model's default low-bit x86 build, timed alone: where the time of the non-conv ops goes.

Runs the sepnet phases and the x86 build pipeline on an ONNX model (or a zoo name), compiles each PrimFunc
of the result on its own, feeds it random tensors of its parameter shapes and times it with TVM's
``time_evaluator`` (median of 5 x 200 calls) on ``TVM_NUM_THREADS`` threads. Kernels timed alone run with
warm caches: their sum is a lower bound of the model's time, not a profile (``tvm-sepnet profile`` charges
kernels to layers inside the model). To compare two trees, run it with ``PYTHONPATH`` set to each::

    TVM_NUM_THREADS=1 python benchmarks/model_kernels.py mbv3s.onnx [--only generic] [--top 25] [--json]

``--only generic``: the legalized float ops TVM fuses around our kernels (elementwise, pooling, means,
casts), i.e. not the conv, dense, quantize and pool kernels tvm-sepnet lowers itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tvm_sepnet  # noqa: E402,F401,I001  (first: sets TVM_NUM_THREADS before the TVM runtime starts)
import numpy as np  # noqa: E402
import tvm  # noqa: E402

from relay_passes.pipeline import run_pipeline  # noqa: E402
from relay_passes.target_pipeline import build_pipeline  # noqa: E402
from tvm_sepnet.targets import get_target  # noqa: E402

OURS = ("conv2d", "dense_exact", "quantize", "bitpack", "pool", "words")


def load(model: str):
    """(float Relax module, CompileConfig) of an ONNX file or a zoo name, with the model's default config
    (what ``tvm-sepnet compile`` uses)."""
    from relay_passes.pipeline import CompileConfig
    from tvm_sepnet.frontend import load_onnx
    from tvm_sepnet.frontend.zoo import load_zoo

    loaded = load_onnx(model) if model.endswith(".onnx") else load_zoo(model)
    return loaded.mod, CompileConfig.of(layer_names=loaded.layer_names, quantizers=loaded.quantizers, **loaded.config)


def random_tensor(rng, ty, dev):
    shape = [int(s) for s in ty.shape]
    dtype = str(ty.dtype)
    if dtype.startswith("float"):
        value = rng.standard_normal(shape).astype(dtype)
    elif dtype == "bool":
        value = rng.integers(0, 2, shape).astype(bool)
    else:
        value = rng.integers(0, 100, shape).astype(dtype)
    return tvm.runtime.tensor(value, dev)


def time_kernels(model: str, only: str | None = None) -> list[dict]:
    """[{"kernel", "us"}] sorted by time: each PrimFunc of the x86 build of ``model`` timed alone."""
    mod, config = load(model)
    lowered, _ = run_pipeline(mod, "x86", config)
    target = get_target("x86").tvm_target()
    with target:
        built = build_pipeline("x86")(lowered)
    dev = tvm.cpu()
    rng = np.random.default_rng(0)
    rows = []
    for gv, func in built.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc):
            continue
        name = gv.name_hint
        if only == "generic" and any(k in name for k in OURS):
            continue
        if not all(hasattr(p.ty, "shape") for p in func.params):
            continue  # a function of scalars or handles: not a kernel
        lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
        args = [random_tensor(rng, p.ty, dev) for p in func.params]
        seconds = lib.mod.time_evaluator("main", dev, number=200, repeat=5)(*args).results
        rows.append({"kernel": name, "us": float(np.median(seconds)) * 1e6})
    return sorted(rows, key=lambda r: -r["us"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="an .onnx file or a zoo name")
    ap.add_argument("--only", choices=["generic"], default=None)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = time_kernels(args.model, args.only)
    total = sum(r["us"] for r in rows)
    if args.json:
        print(json.dumps({"model": args.model, "only": args.only, "kernels": len(rows), "total_us": total,
                          "rows": rows}, indent=1))
        return 0
    print(f"{args.model}: {len(rows)} kernels, {total:.1f} us in total (each timed alone)")
    for r in rows[:args.top]:
        print(f"{r['us']:9.1f} us  {r['kernel']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
