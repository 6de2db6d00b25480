"""The cost of each low-bit choice for the layer kinds of torchvision's CNNs (docs/lowbit.md).

For each ONNX file (e.g. exported by ``tvm-sepnet conformance --keep-onnx``) and each variant of the default
compile config: depthwise convs int8 (default) / binary / float; squeeze-and-excitation 1×1 convs int8
(default) / float; the first conv float (default) / binarized; dense layers float (default) / int8; it
reports the stored weight bytes, the latency (all variants timed interleaved, medians) and how far the
output moves from the float model's (max |y - y_float| / max |y_float| and top-1 agreement over random
inputs)::

    python benchmarks/lowbit_choices.py conformance/mobilenet_v2.dynamo.224.onnx ... [--inputs 8] [--rounds 5] [-o out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tvm_sepnet  # noqa: E402,I001  (first: sets TVM_NUM_THREADS before the TVM runtime starts)
import tvm  # noqa: E402

from tvm_sepnet.bench.conformance import interleaved_latency  # noqa: E402
from tvm_sepnet.frontend import load_onnx  # noqa: E402

FLOAT = {"kxk": "float", "pointwise": "float", "act_bits": None}


def variants(roles: dict) -> dict:
    """name -> build options; ``roles``: layer name -> role in the default build."""
    se = [n for n, r in roles.items() if r == "squeeze_excite"]
    out = {"default": {}}
    if "depthwise" in roles.values():
        out["depthwise binary"] = {"depthwise": "binary"}
        out["depthwise float"] = {"depthwise": "float"}
    if se:
        out["squeeze-excite float"] = {"skip": se}
    out["first binarized"] = {"keep_first": False}
    out["dense int8"] = {"dense": "int8"}
    return out


def measure(path: str, n_inputs: int, rounds: int) -> dict:
    model = load_onnx(path)
    shape = [int(v) for v in model.mod["main"].params[0].ty.shape]
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(n_inputs)]
    build = lambda **o: tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, **o)  # noqa: E731
    ref = build(**FLOAT)
    y_float = [ref.run(x)[0] for x in xs]
    default = build()
    roles = {r["name"]: r["role"] for r in default.layers}
    out = {"model": os.path.basename(path), "roles": {r: list(roles.values()).count(r) for r in set(roles.values())},
           "variants": {}}
    engines = {}
    for name, options in variants(roles).items():
        art = default if name == "default" else build(**options)
        ys = [art.run(x)[0] for x in xs]
        dev = max(float(np.abs(y - f).max() / np.abs(f).max()) for y, f in zip(ys, y_float))
        top1 = float(np.mean([np.argmax(y) == np.argmax(f) for y, f in zip(ys, y_float)]))
        dense = sum(r["weight_bytes"] for r in art.layers if r["role"] == "dense")
        out["variants"][name] = {"options": options, "weight_bytes": art.meta["weight_bytes_total"],
                                 "dense_weight_bytes": dense, "deviation_from_float": dev, "top1_agreement": top1,
                                 "check": art.check(xs[0])["match"]}
        args = [tvm.runtime.tensor(xs[0])]
        engines[name] = lambda vm=art.vm, args=args: vm["main"](*args)
    for name, ms in interleaved_latency(engines, rounds=rounds).items():
        out["variants"][name]["latency_ms"] = ms
    out["load"] = os.getloadavg()[0]
    return out


def table(results: list) -> str:
    lines = ["| model | variant | weight bytes (dense) | latency ms | max dev. from float | top-1 agreement |",
             "|---|---|---|---|---|---|"]
    for res in results:
        for name, v in res["variants"].items():
            lines.append(f"| {res['model']} | {name} | {v['weight_bytes']:,} ({v['dense_weight_bytes']:,}) "
                         f"| {v['latency_ms']:.1f} | {v['deviation_from_float']:.3f} | {v['top1_agreement']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("onnx", nargs="+")
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-o", "--output")
    args = parser.parse_args(argv)
    results = [measure(p, args.inputs, args.rounds) for p in args.onnx]
    print(table(results))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
