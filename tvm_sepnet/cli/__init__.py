"""``tvm-sepnet`` command line: a thin layer over the Python API (each command is one API call).

One module per group of commands; each has ``register(sub)`` adding its sub-parsers. A command returns
a JSON-able dict (printed whole with ``--json``); bad input raises a ``SepnetError``, which exits with
status 2 and the message (so does a missing optional package: the message names its extra). ``run --check``
and ``deploy --check`` exit 1 when the outputs do not match the reference executor, ``run --twin`` when a
layer does not match the ONNX twin (docs/checks.md).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import SepnetError
from ..optional_deps import missing_package_error
from ..progress import set_quiet
from . import (
    bench_commands,
    conformance_commands,
    device_commands,
    eval_commands,
    fpga_commands,
    model_commands,
    profile_commands,
    tune_commands,
)

COMMAND_MODULES = (model_commands, eval_commands, profile_commands, tune_commands, bench_commands, conformance_commands,
                   device_commands, fpga_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvm-sepnet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    for action in sub.choices.values():
        action.add_argument("--json", action="store_true", help="print one JSON object")
        action.add_argument("--quiet", action="store_true", help="no progress bars (shown on stderr only when it is a "
                            "terminal)")
    return parser


def _mismatch(args, result: dict) -> bool:
    """Whether a ``--check`` run found outputs that do not match the reference executor, or a ``--twin``
    run layers that do not match the ONNX twin."""
    if getattr(args, "twin", False) and not result["twin"]["match"]:
        return True
    if not getattr(args, "check", False):
        return False
    if args.command == "run":
        return not result.get("match")
    if args.command == "deploy":
        return not result["check"]["match"]
    return False


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    set_quiet(args.quiet)
    try:
        try:
            result = args.func(args)
        except ModuleNotFoundError as err:  # an optional package (an extra) that is not installed
            raise (missing_package_error(err) or err) from None
    except SepnetError as err:
        if args.json:
            print(json.dumps({"error": str(err), "type": type(err).__name__}))
        print(f"tvm-sepnet: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    return 1 if _mismatch(args, result) else 0
