"""``compile``, ``run``, ``inspect``, ``export-onnx``, ``models``: compile a model and use the artifact."""
from __future__ import annotations

import numpy as np

from ..errors import SepnetError
from .common import act_bits_arg, add_zoo_args, read_inputs, zoo_options

COMPILE_DEFAULTS = {"depthwise": None, "dense": "float", "kernel_choice": "model"}


def compile_options(args, model_config: dict) -> dict:
    """kxk, pointwise, depthwise, dense, act_bits, kernel_choice and the per-layer rules (``layers``) of a
    compile: the model's defaults, then ``--config FILE``, then the command line's flags and ``--layer``
    rules (appended after the file's, so they win where both set a layer)."""
    from ..layer_precision import normalize_rules, read_config

    cfg = {**COMPILE_DEFAULTS, **{k: model_config[k] for k in ("kxk", "pointwise", "act_bits")}, "layers": ()}
    if args.config:
        file_cfg = read_config(args.config)
        if "act_bits" in file_cfg and file_cfg["act_bits"] is not None:
            file_cfg["act_bits"] = act_bits_arg(str(file_cfg["act_bits"]))
        cfg.update(file_cfg)
    for key in ("kxk", "pointwise", "depthwise", "dense", "kernel_choice"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.act_bits is not None:
        cfg["act_bits"] = args.act_bits
    if cfg["act_bits"] == "float":
        cfg["act_bits"] = None
    cfg["layers"] = tuple(cfg["layers"]) + normalize_rules(args.layer or ())
    return cfg


def cmd_compile(args) -> dict:
    from ..builder import build
    from ..frontend import load_model
    from ..report import format_table

    model = load_model(args.model, batch=args.batch, **zoo_options(args))
    if model.quantizers:  # the trainer's quantizers decide every layer (docs/training.md)
        given = [f"--{k.replace('_', '-')}" for k in ("kxk", "pointwise", "act_bits", "calib", "depthwise")
                 if getattr(args, k) is not None] + (["--binarize-first"] if args.binarize_first else [])
        if given:
            raise SepnetError(f"{model.name}: the model carries its trainer's quantizers ({len(model.quantizers)} "
                              f"layers), which decide each layer's format; {', '.join(given)} do not apply: drop them")
    cfg = compile_options(args, model.config)
    art = build(model.mod, args.target, kxk=cfg["kxk"], pointwise=cfg["pointwise"], depthwise=cfg["depthwise"],
                dense=cfg["dense"], act_bits=cfg["act_bits"],
                keep_first=not args.binarize_first, calib=args.calib, calibration=args.calibration,
                layer_names=model.layer_names, kernel_choice=cfg["kernel_choice"], tuning=args.tuning,
                dataflow=args.dataflow, skip_connections=args.skip_connections,
                probe_layers=args.probe_layers, layers=cfg["layers"], any_batch=model.any_batch, quantizers=model.quantizers)
    art.meta["model"] = model.name
    path = art.export(args.output)
    result = {"artifact": path, "model": model.name, "target": art.meta["target"], "config": art.meta["config"],
              "batch": art.meta["batch"], "any_batch": art.meta["any_batch"],
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


def cmd_run(args) -> dict:
    from ..artifact import load

    art = load(args.artifact)
    inputs = read_inputs(art.input_specs, args.input)
    result = {"artifact": args.artifact}
    if args.check:
        res = art.check(inputs)
        outputs = res["outputs"]
        result.update({"max_abs_err": res["max_abs_err"], "max_rel_err": res["max_rel_err"], "match": res["match"],
                       "bit_exact": res["bit_exact"]})
    else:
        outputs = art.run(inputs)[: len(art.graph["outputs"])]
    if args.twin:
        from ..verify import check_artifact

        twin = check_artifact(art, inputs)
        result["twin"] = {"match": twin["match"],
                          "worst_ratio": max(r["worst_ratio"] for r in twin["layers"] + twin["outputs"]),
                          "mismatched_layers": [r["name"] for r in twin["layers"] if not r["match"]],
                          "mismatched_outputs": [r["name"] for r in twin["outputs"] if not r["match"]]}
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
    from ..artifact import load
    from ..report import format_table

    art = load(args.artifact)
    meta = art.meta
    result = {k: meta[k] for k in ("target", "config", "inputs", "outputs", "layers", "weight_bytes_total",
                                   "weight_bytes_theoretical")}
    result["model"] = meta.get("model")
    result["layer_settings"] = meta.get("layer_settings") or {}
    if not args.json:
        print(f"model {meta.get('model')} for target {meta['target']}, config {meta['config']}")
        print(format_table(meta))
        if result["layer_settings"]:
            print(f"per-layer rules {', '.join(meta['config'].get('layers', []))} set:")
            for name, s in result["layer_settings"].items():
                print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    return result


def cmd_export_onnx(args) -> dict:
    from ..models import get_model, save_onnx

    net = get_model(args.name, **zoo_options(args))
    save_onnx(net, args.output, dynamic_batch=args.dynamic_batch)
    result = {"model": args.name, "onnx": args.output, "params": int(net.num_params()),
              "dynamic_batch": args.dynamic_batch}
    if not args.json:
        print(f"wrote {args.output} ({result['params']:,} parameters)")
    return result


def cmd_models(args) -> dict:
    from ..models import default_config, get_model, list_models

    result = {"models": {}}
    for name in list_models():
        net = get_model(name, seed=None)  # shapes only: counts need no weights
        result["models"][name] = {"config": default_config(name), "params": int(net.num_params()),
                                  "macs": int(net.macs())}
    if not args.json:
        for name, info in result["models"].items():
            print(f"{name:16} {info['params']:>10,} params {info['macs'] / 1e9:6.3f} GMAC  {info['config']}")
    return result


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile a zoo model or an ONNX file into an artifact folder")
    p.add_argument("model", help="zoo name (see `tvm-sepnet models`) or path to an .onnx file")
    p.add_argument("--target", default="x86")
    p.add_argument("--kxk", choices=["binary", "float"], help="k×k convs: pattern-binarized or float")
    p.add_argument("--pointwise", choices=["int8", "float"], help="1×1 convs: int8 or float weights")
    p.add_argument("--depthwise", choices=["int8", "binary", "float"],
                   help="depthwise k×k convs (default: int8, float when k×k and 1×1 are float)")
    p.add_argument("--dense", choices=["float", "int8"],
                   help="Gemm / Linear layers: float matmuls (default) or int8 1×1 layers")
    p.add_argument("--act-bits", type=act_bits_arg, default=None,
                   help="activation bits of binary convs (1..8) or 'float' (default: the model's)")
    p.add_argument("--calib", help="calibration inputs (.npz keyed by input name)")
    p.add_argument("--calibration", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--binarize-first", action="store_true", help="binarize the first conv too")
    p.add_argument("--kernel-choice", choices=["model", "measure", "bitserial", "int8"],
                   help="kernel of binary layers with quantized activations (default: cost model)")
    p.add_argument("--dataflow", choices=["integer", "float"], default="integer",
                   help="between layers: each consumer's integer codes (default) or float32 (docs/layouts.md)")
    p.add_argument("--skip-connections", choices=["quantized", "float"],
                   help="SEP modules' identity skip: 8-bit codes or float32 (default: quantized on CPUs, float on accelerators)")
    p.add_argument("--layer", action="append", metavar="PATTERN=VALUE",
                   help="per-layer precision (repeatable; glob patterns over layer names): float, int8 or binary "
                   "weights, aN activation bits (binary layers), bitserial or dot kernel, comma separated; "
                   "e.g. --layer conv1=float --layer 'sep*_kxk=a2' (docs/lowbit.md)")
    p.add_argument("--config", help="compile config file (.json or .toml): {\"layers\": {PATTERN: VALUE}} and "
                   "optionally kxk, pointwise, depthwise, dense, act_bits, kernel_choice (flags win)")
    p.add_argument("--batch", type=int, help="images per call of the compiled module (zoo models; ONNX models with a "
                   "symbolic batch dimension); default 1. Such artifacts run any number of images (in chunks of this)")
    p.add_argument("--tuning", help="work directory of tvm-sepnet tune: use its tuned schedules")
    p.add_argument("--probe-layers", action="store_true",
                   help="main also returns every conv layer's output (for run --twin and per-layer checks)")
    p.add_argument("-o", "--output", required=True, help="artifact folder to write")
    add_zoo_args(p)
    p.set_defaults(func=cmd_compile)
    p = sub.add_parser("run", help="run an artifact on an input (.npy)")
    p.add_argument("artifact")
    p.add_argument("--input", action="append", required=True, help="FILE.npy or NAME=FILE.npy")
    p.add_argument("--check", action="store_true", help="compare with the reference executor")
    p.add_argument("--twin", action="store_true", help="compare every layer with onnxruntime on the ONNX twin "
                   "(docs/checks.md; needs an artifact compiled with --probe-layers)")
    p.add_argument("--output", help="save the first output as .npy")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("inspect", help="show an artifact's layer table")
    p.add_argument("artifact")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("export-onnx", help="write a zoo model (float) as ONNX")
    p.add_argument("name")
    p.add_argument("--dynamic-batch", action="store_true", help="a symbolic batch dimension N (runs any batch)")
    p.add_argument("-o", "--output", required=True)
    add_zoo_args(p)
    p.set_defaults(func=cmd_export_onnx)
    p = sub.add_parser("models", help="list the zoo")
    p.set_defaults(func=cmd_models)
