"""``profile``: per-layer time of an artifact on the host or an RPC device, beside onnxruntime's."""
from __future__ import annotations

import json

from ..errors import SepnetError
from .common import read_inputs


def cmd_profile(args) -> dict:
    from ..artifact import load_reference
    from ..bench.layer_profile import format_profile, plot_profile, profile_artifact

    if args.device and args.tracker:
        raise SepnetError("give the device as --device HOST:PORT or as --tracker HOST:PORT --key KEY, not both")
    host = port = None
    if args.device:
        host, _, port_text = args.device.rpartition(":")
        if not host or not port_text.isdigit():
            raise SepnetError(f"--device {args.device!r}: expected HOST:PORT, e.g. 127.0.0.1:9190")
        port = int(port_text)
    if args.tracker and not args.key:
        raise SepnetError("--tracker needs --key (the device key the tracker knows)")
    inputs = None
    if args.input:
        try:
            specs = load_reference(args.artifact).input_specs
        except (OSError, ValueError) as err:
            raise SepnetError(f"{args.artifact!r} is not a readable tvm-sepnet artifact: {err}") from err
        inputs = read_inputs(specs, args.input)
    from ..bench.layer_profile import read_peaks

    peaks = read_peaks(args.peaks) if args.peaks else None
    result = profile_artifact(args.artifact, inputs, host=host, port=port, tracker=args.tracker, key=args.key,
                              onnx=args.onnx, ort=not args.no_ort, repeat=args.repeat, threads=args.threads,
                              peaks=peaks, clock=args.clock)
    if args.png:
        result["png"] = plot_profile(result, args.png)
    if not args.json:
        print(format_profile(result))
        if args.png:
            print(f"wrote {args.png}")
    return json.loads(json.dumps(result, default=str))


def register(sub) -> None:
    p = sub.add_parser("profile", help="per-layer time, share, G MAC/s and %% of peak of an artifact, beside "
                       "onnxruntime's float network (host or RPC device)")
    p.add_argument("artifact")
    p.add_argument("--input", action="append", help="FILE.npy or NAME=FILE.npy (default: a fixed random input)")
    p.add_argument("--device", metavar="HOST:PORT", help="an RPC device (e.g. tvm-sepnet device start --arch arm64)")
    p.add_argument("--tracker", metavar="HOST:PORT", help="an RPC tracker (with --key)")
    p.add_argument("--key", help="the device key at the tracker")
    p.add_argument("--onnx", help="the float network as ONNX for the onnxruntime column (default: the zoo model's export)")
    p.add_argument("--no-ort", action="store_true", help="no onnxruntime column")
    p.add_argument("--repeat", type=int, default=5, help="timed runs (medians)")
    p.add_argument("--threads", type=int, help="threads of the peaks and onnxruntime (default: $TVM_NUM_THREADS)")
    p.add_argument("--png", help="write a bar chart of the per-layer times")
    p.add_argument("--peaks", help="the host's peaks as JSON (a bench.json, or its 'peaks'), e.g. measured on a quiet "
                   "machine; default: measured now")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="host: wall time, or the calling thread's CPU time (TVM_NUM_THREADS=1; robust to other jobs)")
    p.set_defaults(func=cmd_profile)
