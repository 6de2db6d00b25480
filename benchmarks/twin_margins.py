"""How close the compiled integer pipeline comes to its ONNX twin's bound, per configuration
(docs/checks.md, "The twin's tolerance"; the figures of docs/measurements.md, "ONNX twin").

For sepnet-bq and the foreign ONNX test model (tests/onnx_models.py) at 32×32, every integer
configuration (A in {1, 2, 4, 8}, int8 pointwise, fused residuals; kernel_choice bitserial and int8):
the forced twin check's worst ``|twin - compiled| / bound`` over all layers and outputs, the largest
bound relative to its layer's output scale, the quantizer inputs that sat on a rounding boundary, and
the free-running twin's output error (a figure, not a check). Usage:
``python benchmarks/twin_margins.py [--models sepnet-bq foreign] [--json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

import tvm_sepnet
from tvm_sepnet.frontend import load_onnx, load_zoo
from tvm_sepnet.verify import check_artifact, free_running_error

CONFIGS = [(bits, kernel) for bits in (1, 2, 4, 8) for kernel in ("bitserial", "int8")]


def _model(name: str, workdir: str):
    if name == "foreign":
        import onnx

        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tests.onnx_models import foreign_model

        path = os.path.join(workdir, "foreign.onnx")
        onnx.save(foreign_model(), path)
        model = load_onnx(path)
        x = {"image": np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)}
        return model, {"layer_names": model.layer_names}, x
    model = load_zoo(name, image_size=32, num_classes=10)
    x = {"input": np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    return model, dict(model.config), x


def measure(name: str, workdir: str) -> list[dict]:
    model, options, x = _model(name, workdir)
    rows = []
    for bits, kernel in CONFIGS:
        art = tvm_sepnet.build(model.mod, "x86", probe_layers=True, **{**options, "act_bits": bits}, kernel_choice=kernel)
        res = check_artifact(art, x)
        everything = res["layers"] + res["outputs"]
        worst = max(everything, key=lambda r: r["worst_ratio"])
        n_out = len(art.graph["outputs"])
        free = free_running_error(art.graph, art.consts, x, art.run(x)[:n_out])
        rows.append({"model": name, "act_bits": bits, "kernel": kernel, "match": res["match"],
                     "worst_ratio": worst["worst_ratio"], "worst_layer": worst["name"],
                     "max_abs_err": max(r["max_abs_err"] for r in everything),
                     "max_bound_rel": max(r["max_tolerance"] / r["scale"] for r in res["layers"] if r["scale"] > 0),
                     "boundary_inputs": sum(r["flip_candidates"] or 0 for r in res["layers"]),
                     "free_running_rel_err": free["max_rel_err"]})
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["sepnet-bq", "foreign"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [row for name in args.models for row in measure(name, workdir)]
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'model':10} {'A':>2} {'kernel':9} {'match':5} {'worst |d|/tol':>13} {'at':18} {'max |d|':>9} "
              f"{'max tol/scale':>13} {'boundary':>8} {'free-run rel':>12}")
        for r in rows:
            print(f"{r['model']:10} {r['act_bits']:>2} {r['kernel']:9} {str(r['match']):5} {r['worst_ratio']:13.3g} "
                  f"{r['worst_layer'][:18]:18} {r['max_abs_err']:9.2g} {r['max_bound_rel']:13.2g} "
                  f"{r['boundary_inputs']:>8} {r['free_running_rel_err']:12.2g}")
    return rows


if __name__ == "__main__":
    main()
