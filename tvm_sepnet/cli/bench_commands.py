"""``bench``: kernels and end to end against the baselines, in one run."""
from __future__ import annotations


def cmd_bench(args) -> dict:
    if args.lce:
        return _bench_lce(args)
    if args.batch:
        return _bench_batch(args)
    from ..bench.suite import run_suite, summary_lines

    results = run_suite(args.output, quick=args.quick, plot=not args.no_plot)
    if not args.json:
        print("\n".join(summary_lines(results)))
        print(f"wrote {args.output}/bench.json" + ("" if args.no_plot else f" and {args.output}/bench.png"))
    return results


def _bench_batch(args) -> dict:
    """Images/s at each batch beside onnxruntime fp32 (tvm_sepnet.bench.throughput)."""
    import json
    import os

    from ..bench.throughput import bench_throughput, throughput_lines
    from ..errors import SepnetError
    from ..progress import bar

    try:
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        raise SepnetError(f"--batch {args.batch!r}: expected batch sizes separated by commas, e.g. 1,8,32") from None
    if not batches or min(batches) < 1:
        raise SepnetError(f"--batch {args.batch!r}: batch sizes must be >= 1")
    steps = bar(len(batches), "bench --batch", unit="batch")
    result = bench_throughput(args.model, batches, image_size=args.image_size, repeat=args.rounds,
                              progress=lambda n: steps.update(1), clock=args.clock)
    steps.close()
    os.makedirs(args.output, exist_ok=True)
    out = os.path.join(args.output, "throughput.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    if not args.json:
        print("\n".join(throughput_lines(result)))
        print(f"wrote {out}")
    return result


def _bench_lce(args) -> dict:
    """Side by side with Larq Compute Engine on each ``.tflite`` file (tvm_sepnet.bench.lce)."""
    import json
    import os

    from ..bench.lce import side_by_side, summary_lines
    from ..errors import SepnetError

    results = []
    for path in args.lce:
        if not os.path.isfile(path):
            raise SepnetError(f"--lce: {path!r} does not exist (a .tflite file that LCE runs)")
        r = side_by_side(path, lce_python=args.lce_python, rounds=args.rounds, per_layer=not args.no_layers,
                         threads=args.threads, clock=args.clock,
                         lce_flags={"use_indirect_bgemm": True} if args.lce_indirect_bgemm else None)
        results.append(r)
        if not args.json:
            print("\n".join(summary_lines(r)))
    os.makedirs(args.output, exist_ok=True)
    out = os.path.join(args.output, "lce_side_by_side.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    if not args.json:
        print(f"wrote {out}")
    return {"lce": results}


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark kernels and end to end against the baselines, in one run")
    p.add_argument("-o", "--output", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="CI smoke mode: small input, two layers, few runs")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--lce", nargs="+", metavar="FILE.tflite",
                   help="side by side with Larq Compute Engine on these .tflite files instead of the suite")
    p.add_argument("--lce-python", help="a Python with larq-compute-engine (default: $TVM_SEPNET_LCE_PYTHON or this one)")
    p.add_argument("--lce-indirect-bgemm", action="store_true", help="LCE's use_indirect_bgemm kernel (needed for groups)")
    p.add_argument("--batch", metavar="N,N,...", help="throughput instead of the suite: images/s of --model compiled "
                   "for each batch (e.g. 1,8,32) beside onnxruntime fp32 on the same float network")
    p.add_argument("--model", default="sepnet-bq", help="--batch: the zoo model")
    p.add_argument("--image-size", type=int, default=224, help="--batch: input size")
    p.add_argument("--rounds", type=int, default=5, help="--lce: timing rounds (one block per engine each); --batch: "
                   "timed repeats")
    p.add_argument("--no-layers", action="store_true", help="--lce: end to end only")
    p.add_argument("--threads", type=int, default=2, help="--lce: threads of both engines")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="--lce, --batch: wall time, or the calling thread's CPU time (needs 1 thread; robust to other jobs)")
    p.set_defaults(func=cmd_bench)
