"""TVM RPC server of a simulated accelerator board (``tvm-sepnet device start --arch fpga-sim``).

Like VTA's board server: every session's worker process registers, through ``server_init_callback``,
the functions an fpga-sim artifact needs: ``sepnet.device_info`` (machine ``fpga-sim``, the
accelerator), ``sepnet.fpga.load_programs`` (the artifact's layer programs, sent by ``deploy``; they
register the ``sepnet.fpga.<model id>.<layer>`` packed functions the compiled graph calls) and
``sepnet.fpga.counters`` (the simulated cycles of the last run, JSON). The host part of the model is
x86 code run by this process, as the SoC's CPU would run it.

Run: ``python -m tvm_sepnet.fpga.rpc_server --port P --preset zcu104 [--tracker H:P --key K]``.
"""
from __future__ import annotations

import argparse
import time

PRESET = None


def register():  # runs in every session's worker process
    import json
    import os
    import tempfile

    import tvm

    from tvm_sepnet.fpga import runtime
    from tvm_sepnet.targets.accelerator import load_spec

    preset = os.environ["SEPNET_FPGA_PRESET"]
    spec = load_spec(preset)

    @tvm.register_global_func("sepnet.device_info", override=True)
    def _device_info():
        return json.dumps({"machine": "fpga-sim", "accelerator": spec.name, "description": spec.description(),
                           "cpu": f"{spec.name} (simulated)", "emulated": True, "clock_mhz": spec.clock_mhz})

    @tvm.register_global_func("sepnet.fpga.load_programs", override=True)
    def _load(model_id, programs_json, programs_npz):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "p.json"), "w", encoding="utf-8") as f:
                f.write(programs_json)
            with open(os.path.join(d, "p.npz"), "wb") as f:
                f.write(bytes(programs_npz))
            programs = runtime.load_programs(os.path.join(d, "p.json"), os.path.join(d, "p.npz"))
        runtime.register_programs(model_id, programs, spec)
        return len(programs)

    @tvm.register_global_func("sepnet.fpga.counters", override=True)
    def _counters():
        return json.dumps(runtime.COUNTERS)


def main(argv=None):
    import os

    from tvm import rpc

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--port-end", type=int)
    p.add_argument("--preset", required=True)
    p.add_argument("--tracker")
    p.add_argument("--key", default="")
    a = p.parse_args(argv)
    from tvm_sepnet.targets.accelerator import load_spec

    load_spec(a.preset)  # a bad description fails here, before the server starts
    os.environ["SEPNET_FPGA_PRESET"] = a.preset
    tracker = None
    if a.tracker:
        host, port = a.tracker.rsplit(":", 1)
        tracker = (host, int(port))
    server = rpc.Server(a.host, a.port, a.port_end or a.port + 1, key=a.key, tracker_addr=tracker,  # noqa: F841 (kept alive)
                        server_init_callback=register)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
