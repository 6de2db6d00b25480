"""``bench``: kernels and end to end against the baselines, in one run."""
from __future__ import annotations


def cmd_bench(args) -> dict:
    from ..bench.suite import run_suite, summary_lines

    results = run_suite(args.output, quick=args.quick, plot=not args.no_plot)
    if not args.json:
        print("\n".join(summary_lines(results)))
        print(f"wrote {args.output}/bench.json" + ("" if args.no_plot else f" and {args.output}/bench.png"))
    return results


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark kernels and end to end against the baselines, in one run")
    p.add_argument("-o", "--output", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="CI smoke mode: small input, two layers, few runs")
    p.add_argument("--no-plot", action="store_true")
    p.set_defaults(func=cmd_bench)
