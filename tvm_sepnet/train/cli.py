"""``python -m tvm_sepnet.train``: train the mini SEP-Net on digits with one procedure and config, print
the test accuracy, export QONNX.

    python -m tvm_sepnet.train --procedure qat --config kxk-bin+pw8+a4 --seed 0 -o model.onnx

Deterministic for a ``--seed`` (single-threaded torch, deterministic algorithms, seeded shuffling and
augmentation): the same command writes the same weights.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def train_and_export(procedure: str, config: str, seed: int, output: str | None, float_epochs: int,
                     epochs: int, subset: int | None = None, float_state=None) -> dict:
    """Train (float, then the procedure) and export; returns accuracies and timings. ``float_state``
    (a float network's ``state_dict`` trained with this seed) skips the float training."""
    import torch

    from . import export, qat, seed_procedure
    from .data import digits
    from .fit import accuracy, seeded
    from .models import CONFIGS

    if config not in CONFIGS:
        raise SystemExit(f"unknown config {config!r}; configs: {', '.join(CONFIGS)}")
    torch.set_num_threads(1)
    data = digits()
    t0 = time.perf_counter()
    gen = seeded(seed)
    result = {"procedure": procedure, "config": config, "seed": seed}
    if float_state is None:
        net = seed_procedure.train_float(data, gen, float_epochs, subset=subset)
        float_state = net.state_dict()
        result["float_accuracy"] = accuracy(net, data["x_test"], data["y_test"])
    gen = seeded(seed + 1000)
    if procedure == "seed":
        model = seed_procedure.fine_tune(float_state, CONFIGS[config], data, gen, epochs, subset=subset)
    elif procedure == "qat":
        model = qat.train_qat(float_state, CONFIGS[config], data, gen, epochs, subset=subset)
    else:
        raise SystemExit(f"unknown procedure {procedure!r}: seed or qat")
    result["accuracy"] = accuracy(model, data["x_test"], data["y_test"])
    result["train_seconds"] = time.perf_counter() - t0
    if output:
        (export.export_seed if procedure == "seed" else export.export_brevitas)(model, output)
        result["onnx"] = output
    result["model"] = model
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tvm_sepnet.train", description=__doc__.split("\n")[0])
    p.add_argument("--procedure", choices=["seed", "qat"], default="qat")
    p.add_argument("--config", default="kxk-bin+pw8+a4", help="float, kxk-bin, kxk-bin+pw8, kxk-bin+pw8+aA, all-bin")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=4, help="fine-tuning / QAT epochs")
    p.add_argument("--subset", type=int, help="train on the first N training images only (quick runs)")
    p.add_argument("-o", "--output", help="QONNX file to write")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res = train_and_export(args.procedure, args.config, args.seed, args.output, args.float_epochs, args.epochs,
                           args.subset)
    res.pop("model")
    print(json.dumps(res) if args.json else
          f"{res['procedure']} {res['config']} seed {res['seed']}: test accuracy {res['accuracy'] * 100:.2f} % "
          f"({res['train_seconds']:.1f} s){'; wrote ' + res['onnx'] if res.get('onnx') else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
