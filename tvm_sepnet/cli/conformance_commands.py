"""``conformance``: torchvision's classification models through both torch.onnx exporters, both pipelines."""
from __future__ import annotations

import importlib.util
import os
import sys

from ..errors import SepnetError


def _export_python(given: str | None) -> str:
    if given:
        if not os.path.isfile(given):
            raise SepnetError(f"--export-python {given!r} does not exist")
        return given
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        raise SepnetError("exporting the models needs torch and torchvision: pip install 'tvm-sepnet[torch]', "
                          "or give --export-python PATH (a Python that has them)")
    return sys.executable


def cmd_conformance(args) -> dict:
    from ..bench.conformance import EXPORTERS, list_models, read_rows, run_conformance
    from ..bench.conformance_table import markdown_table, summary, write_table

    exporters = args.exporters.split(",")
    bad = sorted(set(exporters) - set(EXPORTERS))
    if bad:
        raise SepnetError(f"unknown exporter(s) {bad}; exporters: {', '.join(EXPORTERS)}")
    results = args.results or os.path.join(args.work_dir, f"results.{args.image_size}.jsonl")
    if args.table_only:
        rows = read_rows(results)
    else:
        python = _export_python(args.export_python)
        known = list_models(python)
        unknown = sorted(set(args.models) - set(known))
        if unknown:
            raise SepnetError(f"unknown model(s) {unknown}; torchvision's classification models: {', '.join(known)}")
        rows = run_conformance(args.models or known, exporters, args.work_dir, results, export_python=python,
                               image_size=args.image_size, latency_rounds=args.latency_rounds, timeout=args.timeout,
                               redo=args.redo, keep_onnx=args.keep_onnx, log=(lambda s: None) if args.json else print)
    wanted = set(args.models)
    rows = [r for r in rows if r["image_size"] == args.image_size and (not wanted or r["model"] in wanted)]
    table = markdown_table(rows)
    written = write_table(args.table, table, args.image_size) if args.table else None
    if not args.json:
        print(f"{len(rows)} rows: {summary(rows)}" + (f"; {written}" if written else ""))
    return {"results": results, "summary": summary(rows), "rows": rows}


def register(sub) -> None:
    p = sub.add_parser("conformance", help="torchvision classification models, both torch.onnx exporters: float "
                                           "pipeline vs onnxruntime, low-bit pipeline vs the reference executor")
    p.add_argument("models", nargs="*", help="torchvision model names (default: all classification models)")
    p.add_argument("--exporters", default="dynamo,legacy", help="comma-separated: dynamo, legacy")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--work-dir", default="conformance", help="exported ONNX files and the results file")
    p.add_argument("--results", help="JSON-lines results file (default WORK_DIR/results.SIZE.jsonl); rows in it "
                                     "are not redone")
    p.add_argument("--export-python", help="a Python with torch and torchvision (default: this one)")
    p.add_argument("--latency-rounds", type=int, default=3, help="interleaved timing rounds per case (0: no timing)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per case")
    p.add_argument("--redo", action="store_true", help="redo the cases already in the results file")
    p.add_argument("--keep-onnx", action="store_true", help="keep the exported files in WORK_DIR")
    p.add_argument("--table", help="write the markdown table to this file (between its '<!-- conformance table SIZE "
                                   "-->' and '<!-- end conformance table SIZE -->' lines when it has them)")
    p.add_argument("--table-only", action="store_true", help="only (re)write the table from the results file")
    p.set_defaults(func=cmd_conformance)
