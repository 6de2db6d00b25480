"""``tvm-sepnet`` command line: a thin layer over the Python API (each command is one API call)."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .errors import SepnetError


def _act_bits(text: str):
    if text == "float":
        return "float"
    try:
        bits = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--act-bits takes 1..8 or 'float', got {text!r}") from None
    if not 1 <= bits <= 8:
        raise argparse.ArgumentTypeError(f"--act-bits takes 1..8 or 'float', got {bits}")
    return bits


def _zoo_options(args) -> dict:
    return {"seed": args.seed, "weights": args.weights, "image_size": args.image_size,
            "num_classes": args.num_classes}


def _add_zoo_args(p):
    p.add_argument("--seed", type=int, default=0, help="seed of the zoo model's deterministic weights")
    p.add_argument("--weights", help="zoo model weights (.npz keyed by parameter name)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=1000)


def cmd_compile(args) -> dict:
    from .builder import build
    from .frontend import load_model
    from .report import format_table

    model = load_model(args.model, **_zoo_options(args))
    cfg = dict(model.config)
    for key in ("kxk", "pointwise"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.act_bits is not None:
        cfg["act_bits"] = None if args.act_bits == "float" else args.act_bits
    art = build(model.mod, args.target, kxk=cfg["kxk"], pointwise=cfg["pointwise"], act_bits=cfg["act_bits"],
                keep_first=not args.binarize_first, calib=args.calib, calibration=args.calibration,
                layer_names=model.layer_names, kernel_choice=args.kernel_choice, tuning=args.tuning)
    art.meta["model"] = model.name
    path = art.export(args.output)
    result = {"artifact": path, "model": model.name, "target": art.meta["target"], "config": art.meta["config"],
              "layers": art.layers, "weight_bytes_total": art.meta["weight_bytes_total"],
              "weight_bytes_theoretical": art.meta["weight_bytes_theoretical"]}
    if art.meta.get("tuning"):
        tuned = art.meta["tuning"]
        result["tuning"] = tuned
        if not args.json:
            print(f"tuning {tuned['work_dir']}: {tuned['tuned']} kernel(s) tuned, {tuned['hand_faster']} kept the "
                  f"faster hand schedule, {tuned['slower_in_model']} kept it as the tuned one was slower in the model, "
                  f"{tuned['no_record']} without a record (hand schedule)")
    if not args.json:
        print(format_table(art.meta))
        print(f"wrote {path}")
    return result


def cmd_tune(args) -> dict:
    from .tuning import tune
    from .tuning.curve import plot_curves, read_curves

    config = {}
    if args.act_bits is not None:
        config["act_bits"] = None if args.act_bits == "float" else args.act_bits
    summary = tune(args.model, args.target, args.trials, args.work_dir, tracker=args.tracker, key=args.key,
                   search=args.search, trials_per_iter=args.trials_per_iter, search_seed=args.seed_tuning,
                   only=args.only, config=config, timeout=args.timeout, model_check=not args.no_model_check,
                   **_zoo_options(args))
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


def _read_inputs(input_specs: list[dict], specs: list[str]) -> dict:
    names = [s["name"] for s in input_specs]
    inputs = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        if not name:
            if len(names) != 1:
                raise SepnetError(f"the model has inputs {names}: pass --input NAME=FILE.npy for each")
            name = names[0]
        try:
            inputs[name] = np.load(path)
        except (OSError, ValueError) as err:
            raise SepnetError(f"cannot read input file {path!r}: {err}") from err
    return inputs


def cmd_run(args) -> dict:
    from .builder import load

    art = load(args.artifact)
    inputs = _read_inputs(art.input_specs, args.input)
    result = {"artifact": args.artifact}
    if args.check:
        res = art.check(inputs)
        outputs = res["outputs"]
        result.update({"max_abs_err": res["max_abs_err"], "max_rel_err": res["max_rel_err"], "match": res["match"],
                       "bit_exact": res["bit_exact"]})
    else:
        outputs = art.run(inputs)
    if args.output:
        np.save(args.output, outputs[0])
        result["output_file"] = args.output
    result["output_shapes"] = [list(o.shape) for o in outputs]
    top = np.argsort(outputs[0].reshape(outputs[0].shape[0], -1)[0])[::-1][:5]
    result["top5"] = [int(i) for i in top]
    if not args.json:
        for key, value in result.items():
            print(f"{key}: {value}")
    return result


def cmd_inspect(args) -> dict:
    from .builder import load
    from .report import format_table

    art = load(args.artifact)
    meta = art.meta
    result = {k: meta[k] for k in ("target", "config", "inputs", "outputs", "layers", "weight_bytes_total",
                                   "weight_bytes_theoretical")}
    result["model"] = meta.get("model")
    if not args.json:
        print(f"model {meta.get('model')} for target {meta['target']}, config {meta['config']}")
        print(format_table(meta))
    return result


def cmd_export_onnx(args) -> dict:
    from .models import get_model, save_onnx

    net = get_model(args.name, **_zoo_options(args))
    save_onnx(net, args.output)
    result = {"model": args.name, "onnx": args.output, "params": int(net.num_params())}
    if not args.json:
        print(f"wrote {args.output} ({result['params']:,} parameters)")
    return result


def cmd_models(args) -> dict:
    from .models import default_config, list_models

    from .models import get_model

    result = {"models": {}}
    for name in list_models():
        net = get_model(name, seed=None)  # shapes only: counts need no weights
        result["models"][name] = {"config": default_config(name), "params": int(net.num_params()),
                                  "macs": int(net.macs())}
    if not args.json:
        for name, info in result["models"].items():
            print(f"{name:16} {info['params']:>10,} params {info['macs'] / 1e9:6.3f} GMAC  {info['config']}")
    return result


def cmd_bench(args) -> dict:
    from .bench.suite import run_suite, summary_lines

    results = run_suite(args.output, quick=args.quick, plot=not args.no_plot)
    if not args.json:
        print("\n".join(summary_lines(results)))
        print(f"wrote {args.output}/bench.json" + ("" if args.no_plot else f" and {args.output}/bench.png"))
    return results


def cmd_device(args) -> dict:
    from .device import board

    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.action == "start":
        return board.start(args.arch, cpu=args.cpu, port=args.port, tracker=args.tracker, key=args.key, log=log,
                           preset=args.preset)
    if args.action == "stop":
        stopped = board.stop(args.port)
        if not args.json:
            print(f"stopped {len(stopped)} board(s)" + "".join(f"\n  pid {s['pid']} port {s['port']}" for s in stopped))
        return {"stopped": stopped}
    boards = board.status()
    if not args.json:
        for s in boards:
            print(f"{s['arch']} {s['cpu']} port {s['port']} pid {s['pid']} {'alive' if s['alive'] else 'dead'}"
                  + (f" tracker {s['tracker']} key {s['key']}" if s.get("tracker") else ""))
        if not boards:
            print("no boards")
    return {"boards": boards}


def cmd_deploy(args) -> dict:
    from .device.deploy import deploy

    inputs = None
    if args.input:
        from .reference import ReferenceExecutor

        try:
            ref = ReferenceExecutor.load(f"{args.artifact}/graph.json", f"{args.artifact}/graph.npz")
        except OSError as err:
            raise SepnetError(f"{args.artifact!r} is not a tvm-sepnet artifact: {err}") from None
        inputs = _read_inputs(ref.input_specs, args.input)
    res = deploy(args.artifact, host=args.host, port=args.port, tracker=args.tracker, key=args.key, inputs=inputs,
                 check=args.check, repeat=args.repeat, timeout=args.timeout, output=args.output)
    outputs = res.pop("outputs")
    res["output_shapes"] = [list(o.shape) for o in outputs]
    if not args.json:
        kind = "emulated" if res["emulated"] else "measured"
        print(f"ran {args.artifact} ({res['target']}) on {res['device']}: {res['remote_ms']:.2f} ms per run ({kind})")
        if res.get("simulated_cycles") is not None:
            print(f"accelerator (cycle model): {res['simulated_cycles']:,.0f} cycles = {res['simulated_ms']:.3f} ms per image")
        if "check" in res:
            c = res["check"]
            print(f"check vs reference: bit_exact {c['bit_exact']}, max_rel_err {c['max_rel_err']:.3g}, match {c['match']}")
    return res


def cmd_estimate(args) -> dict:
    from .device.estimate import estimate_artifact

    res = estimate_artifact(args.artifact, args.cpu, cores=args.cores, clock_ghz=args.clock_ghz)
    if not args.json:
        print(f"STATIC MODEL (llvm-mca, not a measurement): {res['target']} on {res['cpu']} at {res['clock_ghz']} GHz")
        print(f"{'layer':<28} {'cycles (1 core)':>16} {'ms 1 core':>10} {'ms ' + str(res['cores']) + ' cores':>10}")
        for r in res["layers"]:
            print(f"{r['layer']:<28} {r['cycles_1core']:>16,.0f} {r['ms_1core']:>10.3f} {r['ms_cores']:>10.3f}")
        print(f"{'total (conv kernels + pooling)':<28} {'':>16} {res['total_ms_1core']:>10.3f} {res['total_ms_cores']:>10.3f}")
        print(res["note"])
    return res


def cmd_fpga_report(args) -> dict:
    from .builder import load
    from .fpga.report import accelerator_report, format_report

    art = load(args.artifact)
    if art.accelerator is None:
        raise SepnetError(f"{args.artifact!r} was built for {art.meta['target']}: fpga-report needs an fpga-sim "
                          "artifact (tvm-sepnet compile ... --target fpga-sim:zcu104)")
    rep = accelerator_report(art)
    if not args.json:
        print(format_report(rep))
    return rep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvm-sepnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile a zoo model or an ONNX file into an artifact folder")
    p.add_argument("model", help="zoo name (see `tvm-sepnet models`) or path to an .onnx file")
    p.add_argument("--target", default="x86")
    p.add_argument("--kxk", choices=["binary", "float"], help="k×k convs: pattern-binarized or float")
    p.add_argument("--pointwise", choices=["int8", "float"], help="1×1 convs: int8 or float weights")
    p.add_argument("--act-bits", type=_act_bits, default=None,
                   help="activation bits of binary convs (1..8) or 'float' (default: the model's)")
    p.add_argument("--calib", help="calibration inputs (.npz keyed by input name)")
    p.add_argument("--calibration", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--binarize-first", action="store_true", help="binarize the first conv too")
    p.add_argument("--kernel-choice", choices=["model", "measure", "bitserial", "int8"], default="model",
                   help="kernel of binary layers with quantized activations (default: cost model)")
    p.add_argument("--tuning", help="work directory of tvm-sepnet tune: use its tuned schedules")
    p.add_argument("-o", "--output", required=True, help="artifact folder to write")
    _add_zoo_args(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("tune", help="autotune a model's kernels (MetaSchedule + XGBoost), resumable")
    p.add_argument("model", help="zoo name or .onnx path")
    p.add_argument("--target", default="x86")
    p.add_argument("--trials", type=int, default=64, help="total trials for the work directory, split across tasks by time share; "
                   "a rerun does only the missing ones (raise it to tune further)")
    p.add_argument("--work-dir", required=True, help="database directory; a second run continues it")
    p.add_argument("--tracker", help="HOST:PORT of a TVM RPC tracker to measure on (builds stay local)")
    p.add_argument("--key", help="device key of the RPC servers under --tracker")
    p.add_argument("--search", choices=["xgb", "random"], default="xgb", help="cost model: XGBoost or random")
    p.add_argument("--trials-per-iter", type=int, default=8)
    p.add_argument("--only", action="append", help="tune only tasks whose name contains this (repeatable)")
    p.add_argument("--act-bits", type=_act_bits, default=None)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per build / run before a trial fails")
    p.add_argument("--seed-tuning", type=int, default=0, help="random seed of the search")
    p.add_argument("--plot", help="PNG of the tuning curves (default WORK_DIR/tuning.png)")
    p.add_argument("--no-model-check", action="store_true",
                   help="skip timing the tuned choices inside the model against the hand build (see docs/tuning.md)")
    _add_zoo_args(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("run", help="run an artifact on an input (.npy)")
    p.add_argument("artifact")
    p.add_argument("--input", action="append", required=True, help="FILE.npy or NAME=FILE.npy")
    p.add_argument("--check", action="store_true", help="compare with the reference executor")
    p.add_argument("--output", help="save the first output as .npy")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("inspect", help="show an artifact's layer table")
    p.add_argument("artifact")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export-onnx", help="write a zoo model (float) as ONNX")
    p.add_argument("name")
    p.add_argument("-o", "--output", required=True)
    _add_zoo_args(p)
    p.set_defaults(func=cmd_export_onnx)

    p = sub.add_parser("bench", help="benchmark kernels and end to end against the baselines, in one run")
    p.add_argument("-o", "--output", default="benchmarks/results")
    p.add_argument("--quick", action="store_true", help="CI smoke mode: small input, two layers, few runs")
    p.add_argument("--no-plot", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("device", help="start / stop / list emulated boards (TVM RPC servers: arm64 under qemu, fpga-sim)")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--arch", default="arm64", choices=["arm64", "fpga-sim"])
    p.add_argument("--cpu", default="cortex-a72", help="emulated core (pinned; never qemu's 'max')")
    p.add_argument("--preset", help="fpga-sim: accelerator preset or JSON description (default zcu104)")
    p.add_argument("--port", type=int, help="server port (start: default a free one; stop: default all)")
    p.add_argument("--tracker", help="HOST:PORT of a TVM RPC tracker to register with")
    p.add_argument("--key", help="device key under the tracker")
    p.set_defaults(func=cmd_device)

    p = sub.add_parser("deploy", help="upload an artifact to a TVM RPC device, run it there, time it")
    p.add_argument("artifact")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--tracker", help="HOST:PORT")
    p.add_argument("--key")
    p.add_argument("--input", action="append", help="FILE.npy or NAME=FILE.npy (default: seeded random)")
    p.add_argument("--check", action="store_true", help="compare with the reference executor")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--output", help="save the first output as .npy (written before timing)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("estimate", help="static per-layer speed model of an ARM artifact (llvm-mca; not a measurement)")
    p.add_argument("artifact")
    p.add_argument("--cpu", default="cortex-a72", help="core model for llvm-mca (cortex-a53, cortex-a72, neoverse-n1, ...)")
    p.add_argument("--cores", type=int, help="cores the parallel loops split over (default: the target's)")
    p.add_argument("--clock-ghz", type=float, help="core clock (default: a known board's, e.g. 1.5 for cortex-a72)")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("fpga-report", help="per-layer cycles, utilization, DRAM traffic, resources of an fpga-sim artifact")
    p.add_argument("artifact")
    p.set_defaults(func=cmd_fpga_report)

    p = sub.add_parser("models", help="list the zoo")
    p.set_defaults(func=cmd_models)

    for action in sub.choices.values():
        action.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except SepnetError as err:
        if args.json:
            print(json.dumps({"error": str(err), "type": type(err).__name__}))
        print(f"tvm-sepnet: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    if args.command == "run" and args.check and not result.get("match"):
        return 1
    if args.command == "deploy" and args.check and not result["check"]["match"]:
        return 1
    return 0
