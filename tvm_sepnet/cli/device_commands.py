"""``device``, ``deploy``, ``estimate``: emulated boards, running on a TVM RPC device, static ARM model."""
from __future__ import annotations

import sys

from ..errors import SepnetError
from .common import read_inputs


def cmd_device(args) -> dict:
    from ..device import board

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
    from ..device.deploy import deploy

    inputs = None
    if args.input:
        from ..artifact import load_reference

        try:
            ref = load_reference(args.artifact)
        except OSError as err:
            raise SepnetError(f"{args.artifact!r} is not a tvm-sepnet artifact: {err}") from None
        inputs = read_inputs(ref.input_specs, args.input)
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
    from ..device.estimate import estimate_artifact

    res = estimate_artifact(args.artifact, args.cpu, cores=args.cores, clock_ghz=args.clock_ghz)
    if args.compare:
        return _print_comparison(args, res)
    if not args.json:
        print(f"STATIC MODEL (llvm-mca, not a measurement): {res['target']} on {res['cpu']} at {res['clock_ghz']} GHz")
        print(f"{'layer':<28} {'cycles (1 core)':>16} {'ms 1 core':>10} {'ms ' + str(res['cores']) + ' cores':>10}")
        for r in res["layers"]:
            print(f"{r['layer']:<28} {r['cycles_1core']:>16,.0f} {r['ms_1core']:>10.3f} {r['ms_cores']:>10.3f}")
        print(f"{'total (conv kernels + pooling)':<28} {'':>16} {res['total_ms_1core']:>10.3f} {res['total_ms_cores']:>10.3f}")
        print(res["note"])
    return res


def _print_comparison(args, res: dict) -> dict:
    from ..device.estimate import compare_estimates, estimate_artifact

    old = estimate_artifact(args.compare, args.cpu, cores=args.cores, clock_ghz=args.clock_ghz)
    cmp = compare_estimates(res, old)
    res["compare"] = {"artifact": args.compare, **cmp}
    if args.json:
        return res

    def ms(v):
        return f"{v:10.3f}" if v is not None else f"{'-':>10}"

    def x(v):
        return f"{v:7.2f}x" if v is not None else f"{'':>8}"

    print(f"STATIC MODEL (llvm-mca, not a measurement): {res['target']} on {res['cpu']} at {res['clock_ghz']} GHz, "
          f"1 core; old = {args.compare}, new = {args.artifact}")
    print(f"{'layer':<28} {'group':<40} {'old ms':>10} {'new ms':>10} {'speedup':>8}")
    for r in cmp["layers"]:
        print(f"{r['layer']:<28} {r['group']:<40} {ms(r['old_ms'])} {ms(r['new_ms'])} {x(r['speedup'])}")
    print("by group (the new build's grouping; a fused pattern block gathers its k×k and 1x1 layers):")
    for name, g in cmp["groups"].items():
        print(f"  {name:<66} {ms(g['old_ms'])} {ms(g['new_ms'])} {x(g['speedup'])}")
    print(f"{'total':<69} {ms(cmp['old_total_ms_1core'])} {ms(cmp['new_total_ms_1core'])} {x(cmp['speedup'])}")
    print(res["note"])
    return res


def register(sub) -> None:
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
    p.add_argument("--compare", metavar="OLD_ARTIFACT",
                   help="also estimate OLD_ARTIFACT and print the change per layer and per group of layers")
    p.set_defaults(func=cmd_estimate)
