"""Export a torchvision classification model to ONNX with one of the two ``torch.onnx`` exporters.

A standalone script (torch and torchvision only, no tvm-sepnet import), so that it can run under another
Python that has torch (``tvm-sepnet conformance --export-python``)::

    python torch_export.py list                                     # JSON list of the classification models
    python torch_export.py export MODEL EXPORTER OUT.onnx [--opset N] [--image-size 224] [--seed 0]

``EXPORTER``: ``dynamo`` (``torch.onnx.export(model, (x,), path)``: torch's default, weights in
``OUT.onnx.data``) or ``legacy`` (``dynamo=False``, TorchScript-based). The model has random weights
(``weights=None``, ``torch.manual_seed(seed)``) and randomized batch-norm parameters and statistics
(gamma in [0.5, 1.5], beta and mean ~ N(0, 0.1), var in [0.5, 1.5]), so that folding batch norm is
exercised; a linear layer that torchvision initializes to zeros (ViT's classification head) gets
N(0, 1/fan_in) weights, so that the outputs are not all zero; it is exported in eval mode with a 1x3xSxS
input. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings


def classification_models() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def make_model(name: str, seed: int):
    import torch
    import torchvision

    torch.manual_seed(seed)
    extra = {"init_weights": True} if name in ("googlenet", "inception_v3") else {}
    if name in ("googlenet", "inception_v3"):
        extra["aux_logits"] = False
    model = torchvision.models.get_model(name, weights=None, **extra).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
            if isinstance(mod, torch.nn.Linear) and not mod.weight.any():
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) / mod.weight.shape[1] ** 0.5)
    return model


def export(name: str, exporter: str, out: str, opset: int | None, image_size: int, seed: int) -> dict:
    import torch

    torch.set_num_threads(2)
    model = make_model(name, seed)
    x = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed + 2))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(model, (x,), out, dynamo=True, opset_version=opset, external_data=True)
        elif exporter == "legacy":
            torch.onnx.export(model, (x,), out, dynamo=False, opset_version=opset or 17)
        else:
            raise SystemExit(f"unknown exporter {exporter!r} (dynamo or legacy)")
    files = [f for f in (out, out + ".data") if os.path.exists(f)]
    return {"model": name, "exporter": exporter, "onnx": out, "export_s": time.perf_counter() - t0,
            "torch": torch.__version__, "bytes": sum(os.path.getsize(f) for f in files)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    p = sub.add_parser("export")
    p.add_argument("model")
    p.add_argument("exporter", choices=["dynamo", "legacy"])
    p.add_argument("out")
    p.add_argument("--opset", type=int)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "list":
        print(json.dumps(classification_models()))
    else:
        print(json.dumps(export(args.model, args.exporter, args.out, args.opset, args.image_size, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
