"""``tune``: autotune a model's kernels (tvm_sepnet.autotune)."""
from __future__ import annotations

from .common import act_bits_arg, add_zoo_args, zoo_options


def cmd_tune(args) -> dict:
    from ..autotune import tune
    from ..autotune.curve import plot_curves, read_curves

    config = {}
    if args.act_bits is not None:
        config["act_bits"] = None if args.act_bits == "float" else args.act_bits
    summary = tune(args.model, args.target, args.trials, args.work_dir, tracker=args.tracker, key=args.key,
                   search=args.search, trials_per_iter=args.trials_per_iter, search_seed=args.seed_tuning,
                   only=args.only, config=config, timeout=args.timeout, model_check=not args.no_model_check,
                   **zoo_options(args))
    if "default_cycles" in summary:  # an fpga-sim target: tiling tuned against simulated cycles
        if not args.json:
            print(f"accelerator layers: {summary['default_cycles']:,} cycles (default tiling) -> "
                  f"{summary['tuned_cycles']:,} (tuned, x{summary['speedup']:.3f}); {summary['trials_this_run']} trials "
                  f"in {summary['seconds']:.1f} s")
        return summary
    plot = args.plot or f"{args.work_dir}/tuning.png"
    curves = read_curves(args.work_dir, summary["tasks"])
    summary["plot"] = plot_curves({args.search: curves}, plot)
    summary["curve_end_to_end_ms"] = [v * 1e3 for v in curves["end_to_end"]]
    if not args.json:
        for r in summary["tasks"]:
            best = f"{r['best_ms']:.4f}" if r["best_ms"] else "-"
            print(f"{r['task']:<44} calls {r['calls']:>2}  trials {r['trials']:>4}  hand {r['hand_ms']:.4f} ms  "
                  f"best {best} ms  x{(r['speedup'] or 0):.2f}")
        print(f"tuned kernels: {summary['hand_kernel_ms']:.3f} ms (hand) -> {summary['tuned_kernel_ms']:.3f} ms; "
              f"{summary['trials_this_run']} trials in {summary['seconds']:.0f} s; plot {summary['plot']}")
        check = summary["model_check"]
        if "end_to_end_ms" in check:
            e2e = check["end_to_end_ms"]
            print(f"model check: end to end {e2e['hand']:.3f} ms (hand) -> {e2e['tuned']:.3f} ms (tuned), "
                  f"x{e2e['hand'] / e2e['tuned']:.3f}; kept at hand schedules as slower in the model: "
                  f"{', '.join(check['rejected'].values()) or 'none'}")
        else:
            print(f"model check skipped: {check['skipped']}")
    return summary


def register(sub) -> None:
    p = sub.add_parser("tune", help="autotune a model's kernels (MetaSchedule + XGBoost), resumable")
    p.add_argument("model", help="zoo name or .onnx path")
    p.add_argument("--target", default="x86")
    p.add_argument("--trials", type=int, default=64,
                   help="total trials for the work directory, split across tasks by time share; "
                   "a rerun does only the missing ones (raise it to tune further)")
    p.add_argument("--work-dir", required=True, help="database directory; a second run continues it")
    p.add_argument("--tracker", help="HOST:PORT of a TVM RPC tracker to measure on (builds stay local)")
    p.add_argument("--key", help="device key of the RPC servers under --tracker")
    p.add_argument("--search", choices=["xgb", "random"], default="xgb", help="cost model: XGBoost or random")
    p.add_argument("--trials-per-iter", type=int, default=8)
    p.add_argument("--only", action="append", help="tune only tasks whose name contains this (repeatable)")
    p.add_argument("--act-bits", type=act_bits_arg, default=None)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per build / run before a trial fails")
    p.add_argument("--seed-tuning", type=int, default=0, help="random seed of the search")
    p.add_argument("--plot", help="PNG of the tuning curves (default WORK_DIR/tuning.png)")
    p.add_argument("--no-model-check", action="store_true",
                   help="skip timing the tuned choices inside the model against the hand build (see docs/tuning.md)")
    add_zoo_args(p)
    p.set_defaults(func=cmd_tune)
