"""``fpga-report``: per-layer cycles, utilization, DRAM traffic and resources of an fpga-sim artifact."""
from __future__ import annotations

from ..errors import SepnetError


def cmd_fpga_report(args) -> dict:
    from ..artifact import load
    from ..fpga.report import accelerator_report, format_report

    art = load(args.artifact)
    if art.accelerator is None:
        raise SepnetError(f"{args.artifact!r} was built for {art.meta['target']}: fpga-report needs an fpga-sim "
                          "artifact (tvm-sepnet compile ... --target fpga-sim:zcu104)")
    rep = accelerator_report(art, engine="rtl" if args.rtl else None)
    if not args.json:
        print(format_report(rep))
    return rep


def register(sub) -> None:
    p = sub.add_parser("fpga-report", help="per-layer cycles, utilization, DRAM traffic, resources of an fpga-sim artifact")
    p.add_argument("artifact")
    p.add_argument("--rtl", action="store_true",
                   help="run the offloaded layers on the accelerator's RTL under Verilator (cycles beside the cycle model's)")
    p.set_defaults(func=cmd_fpga_report)
