"""``eval``: accuracy of a trained model (trainer's executor, reference executor, compiled artifact) on a
data set shipped with an installed package (docs/training.md)."""
from __future__ import annotations

from ..errors import SepnetError


def cmd_eval(args) -> dict:
    try:
        from ..train.evaluate import evaluate
    except ImportError as err:
        raise SepnetError(f"eval needs the train extra (pip install -e .[train]): {err}") from err
    if args.limit is not None and args.limit < 1:
        raise SepnetError(f"--limit must be at least 1, got {args.limit}")
    if (args.host is None) != (args.port is None):
        raise SepnetError("give an RPC board as --host H --port P (both)")
    result = evaluate(args.model, args.dataset, args.target, args.limit, args.png, args.host, args.port)
    if not args.json:
        acc, agr = result["accuracy"], result["agreement"]
        print(f"{result['model']} on {result['dataset']} ({result['images']} test images), target {result['target']}")
        print(f"  top-1: trainer ({result['trainer_executor']}) {acc['trainer'] * 100:.2f} %, reference "
              f"{acc['reference'] * 100:.2f} %, compiled {acc['compiled'] * 100:.2f} %")
        for key, a in agr.items():
            print(f"  {key.replace('_', ' ')}: {a['identical_predictions'] * 100:.2f} % identical predictions, "
                  f"max |diff| {a['max_abs_diff']:.3g}")
        print(f"  confusion matrix: {result['confusion_png']}")
    return result


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy of a trained ONNX/QONNX model: trainer vs reference vs compiled")
    p.add_argument("model", help="an .onnx file (QONNX from Brevitas or tvm_sepnet.train, or QDQ)")
    p.add_argument("--dataset", default="digits", help="data set (digits: scikit-learn's 8x8 digits, test split)")
    p.add_argument("--target", default="x86", help="target to compile for (x86, fpga-sim:* run here; arm64 with --host/--port)")
    p.add_argument("--host", help="RPC board to run the compiled model on (e.g. tvm-sepnet device start --arch arm64)")
    p.add_argument("--port", type=int)
    p.add_argument("--limit", type=int, help="evaluate the first N test images only")
    p.add_argument("--png", help="confusion matrix PNG (default: beside the model)")
    p.set_defaults(func=cmd_eval)
