"""``tvm-sepnet deploy``: upload an artifact to a TVM RPC device, run it there, fetch outputs and time.

The device is reached directly (``host``/``port``) or through a tracker (``tracker`` "HOST:PORT" +
``key``). Both are checked first with a plain TCP connection, so an unreachable device or tracker is
a clear error within seconds, never a hang. Before uploading, the device's architecture (the
``sepnet.device_info`` function of our emulated board; on other servers, the first loaded module
tells) is compared with the artifact's: an artifact for another architecture is refused before
upload. Outputs are fetched before timing, so a device that dies during timing still leaves them.
"""
from __future__ import annotations

import json
import os
import platform

import numpy as np

from ..artifact import FPGA_JSON, FPGA_NPZ, LIB_NAME, compare_with_reference, load_reference
from ..artifact_files import read_meta, verify_files
from ..errors import SepnetError
from ..targets import get_target
from .rpc_check import check_reachable, check_tracker_key


class DeployError(SepnetError):
    """The device could not be reached, refused the artifact, or failed while running it."""


def connect(host: str | None = None, port: int | None = None, tracker: str | None = None, key: str | None = None,
            timeout: float = 60.0):
    """(RPC session, description) of a device, reached directly or through a tracker."""
    from tvm import rpc

    if tracker:
        thost, tport = check_tracker_key(tracker, key, min(timeout, 10.0), DeployError)
        try:
            return rpc.connect_tracker(thost, tport).request(key, priority=1, session_timeout=int(timeout)), f"{key}@{tracker}"
        except Exception as err:  # noqa: BLE001 - TVM raises plain errors
            raise DeployError(f"device {key!r} via tracker {tracker}: {err}") from None
    if host is None or port is None:
        raise DeployError("give the device as --host H --port P, or --tracker H:P --key K")
    check_reachable(host, port, "RPC device", min(timeout, 10.0), DeployError)
    try:
        return rpc.connect(host, port, key=key or "", session_timeout=int(timeout)), f"{host}:{port}"
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"RPC device {host}:{port}: {err}") from None


def device_info(remote) -> dict | None:
    """``{"machine", "cpu", "emulated"}`` of a tvm-sepnet board, else None (a stock TVM server)."""
    try:
        return json.loads(remote.get_function("sepnet.device_info")())
    except Exception:  # noqa: BLE001 - not our board
        return None


def artifact_machine(meta: dict) -> str:
    if meta.get("accelerator"):
        return "fpga-sim"
    preset = get_target(meta["target"])
    return preset.machine or "x86_64"


def deploy(path: str, *, host=None, port=None, tracker=None, key=None, inputs=None, check: bool = False,
           repeat: int = 10, timeout: float = 120.0, output: str | None = None) -> dict:
    """Run artifact ``path`` on a device; returns outputs, remote time and (``check``) the comparison
    with the reference executor (the integer pipeline is bit-exact: ``bit_exact``)."""
    from tvm import relax

    meta = read_meta(path)
    verify_files(path, meta, LIB_NAME)  # a damaged file is named here, not a failure on the device
    ref = load_reference(path, meta)
    want = artifact_machine(meta)
    if inputs is None:
        rng = np.random.default_rng(0)
        inputs = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in ref.input_specs}
    inputs = ref.check_inputs(inputs)
    remote, where = connect(host, port, tracker, key, timeout)
    info = device_info(remote)
    if info is not None and info.get("machine") != want:
        raise DeployError(f"artifact {path!r} was built for {meta['target']} ({want}); device {where} is "
                          f"{info.get('machine')} ({info.get('cpu')}): not uploaded. Compile for that device's target")
    if want == "fpga-sim" and info is not None and info.get("description") != meta["accelerator"]["description"]:
        built = meta["accelerator"]["description"]["name"]
        raise DeployError(f"artifact {path!r} was built for accelerator {built}; device {where} simulates "
                          f"{info.get('accelerator')}: not uploaded (another accelerator description). Compile for the device's "
                          "description (tvm-sepnet compile --target fpga-sim:PRESET_OR_JSON)")
    missing = [f for f in get_target(meta["target"]).requires if info and "features" in info and f not in info["features"]]
    if missing:
        raise DeployError(f"artifact {path!r} was built for {meta['target']}, which needs CPU features "
                          f"{', '.join(missing)}; device {where} ({info.get('cpu')}) lacks them: not uploaded. "
                          f"Compile for a target without them (e.g. arm64)")
    if info is None and want == platform.machine() and host in ("127.0.0.1", "localhost"):
        info = {"machine": want, "cpu": "host", "emulated": False}
    try:
        remote.upload(os.path.join(path, LIB_NAME), LIB_NAME)
        lib = remote.load_module(LIB_NAME)
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"device {where} could not load the artifact (built for {meta['target']}, {want}): {err}") from None
    dev = remote.cpu()
    result = {"device": where, "device_info": info, "target": meta["target"],
              "emulated": bool(info and info.get("emulated"))}
    if meta.get("accelerator"):
        _send_programs(remote, path, meta, where)
    try:
        vm = relax.VirtualMachine(lib, dev)
        args = [_tensor(inputs[s["name"]], dev) for s in ref.input_specs]
        outputs = _fetch_outputs(remote, vm["main"](*args))[: len(ref.graph["outputs"])]
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"device {where} failed while running the model: {err}") from None
    result["outputs"] = outputs
    if output:
        np.save(output, outputs[0])
        result["output_file"] = output
    if check:
        result["check"] = compare_with_reference(outputs, ref.run(inputs))
    if meta.get("accelerator"):
        counters = json.loads(remote.get_function("sepnet.fpga.counters")())
        cycles = sum(c["cycles"] for c in counters.values()) / args[0].shape[0]
        result["simulated_cycles"] = cycles
        result["simulated_ms"] = cycles / (info["clock_mhz"] * 1e3) if info and info.get("clock_mhz") else None
    try:
        timer = vm.time_evaluator("main", dev, number=1, repeat=max(1, repeat))
        result["remote_ms"] = float(timer(*args).median) * 1e3
    except Exception as err:  # noqa: BLE001
        raise DeployError(f"device {where} failed while timing (outputs were fetched"
                          f"{' and saved to ' + output if output else ''}): {err}") from None
    return result


def _fetch_outputs(remote, out) -> list[np.ndarray]:
    """numpy copies of what a remote ``main`` returned: one tensor, or a tuple (probed layers, several
    outputs), which comes back as a handle to a remote array read with the FFI's array functions."""
    if hasattr(out, "numpy"):
        return [out.numpy()]
    if isinstance(out, (list, tuple)) or type(out).__name__ == "Array":
        return [o.numpy() for o in out]
    size, item = remote.get_function("ffi.ArraySize"), remote.get_function("ffi.ArrayGetItem")
    return [item(out, i).numpy() for i in range(int(size(out)))]


def _send_programs(remote, path: str, meta: dict, where: str) -> None:
    """Hand the artifact's accelerator programs to an fpga-sim board (it registers their packed functions)."""
    try:
        load = remote.get_function("sepnet.fpga.load_programs")
    except Exception:  # noqa: BLE001
        raise DeployError(f"device {where} is not an fpga-sim board (no sepnet.fpga.load_programs): "
                          "start one with tvm-sepnet device start --arch fpga-sim") from None
    with open(os.path.join(path, FPGA_JSON), encoding="utf-8") as f:
        programs_json = f.read()
    with open(os.path.join(path, FPGA_NPZ), "rb") as f:
        programs_npz = bytearray(f.read())
    load(meta["accelerator"]["model_id"], programs_json, programs_npz)


def _tensor(array, dev):
    import tvm

    return tvm.runtime.tensor(np.ascontiguousarray(array), dev)
