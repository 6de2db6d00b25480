"""``fpga-report``: per-layer cycles, utilization, DRAM traffic and resources of an fpga-sim artifact
(``--rtl``: on the accelerator's RTL under Verilator); ``fpga-synth``: Yosys synthesis of the RTL per
accelerator description, beside the resource model."""
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


def cmd_fpga_synth(args) -> dict:
    from ..fpga.synthesis import format_table, resource_table, synthesize
    from ..targets.accelerator import known_presets, load_spec

    out = {}
    for name in args.accelerators or known_presets():
        spec = load_spec(name)
        synth = synthesize(spec, work_dir=args.work_dir)
        out[spec.name] = {**synth, "table": resource_table(spec, synth)}
        if not args.json:
            print(format_table(spec, synth), flush=True)
    return out


def register(sub) -> None:
    p = sub.add_parser("fpga-report", help="per-layer cycles, utilization, DRAM traffic, resources of an fpga-sim artifact")
    p.add_argument("artifact")
    p.add_argument("--rtl", action="store_true",
                   help="run the offloaded layers on the accelerator's RTL under Verilator (cycles beside the cycle model's)")
    p.set_defaults(func=cmd_fpga_report)
    p = sub.add_parser("fpga-synth", help="Yosys synth_xilinx of the accelerator's RTL: LUT, FF, DSP, BRAM, URAM beside "
                                          "the resource model, and whether it fits the part")
    p.add_argument("accelerators", nargs="*", help="presets or JSON descriptions (default: every preset)")
    p.add_argument("--work-dir", help="keep the Yosys scripts, logs and statistics here")
    p.set_defaults(func=cmd_fpga_synth)
