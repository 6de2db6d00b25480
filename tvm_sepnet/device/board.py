"""An emulated arm64 board: a real TVM RPC server running in aarch64 CPython under qemu-user.

``tvm-sepnet device start --arch arm64 [--cpu cortex-a72] [--port P] [--tracker H:P --key K]``:

1. builds (once, cached under ``$TVM_SEPNET_CACHE`` or ``~/.cache/tvm-sepnet``) an arm64 Debian file
   tree with python3 (``mmdebstrap --variant=extract``: no emulation while building) and the aarch64
   wheels of apache-tvm / apache-tvm-ffi / numpy / cloudpickle installed into it by this host's pip;
   the 240 MB compiler library is removed (the board only runs code: ``TVM_USE_RUNTIME_LIB=1``);
2. writes a small x86 shell wrapper that runs that Python under ``qemu-aarch64-static`` with the CPU
   pinned (``QEMU_CPU``; never qemu's ``max``), and a server script that points ``sys.executable`` at
   the wrapper (TVM's server execs it for its workers; no binfmt_misc needed) and registers
   ``sepnet.device_info`` (machine, cpu) for ``deploy``'s architecture check;
3. starts the server on 127.0.0.1 (registered with the tracker if given) and records its pid, port and
   core in ``devices/PORT.json``; ``stop`` kills it by pid (process group), ``status`` lists them.

Emulated timings are not a speed signal (``deploy`` marks them "emulated").
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from .. import system_tools
from ..errors import SepnetError
from ..targets.accelerator import load_spec
from .rpc_check import free_port

TVM_VERSION = "0.27.0.post1"
FFI_VERSION = "0.1.14.post1"
WHEELS = [f"apache-tvm=={TVM_VERSION}", f"apache-tvm-ffi=={FFI_VERSION}", "numpy", "cloudpickle", "psutil"]
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"]
CPUS = ("cortex-a53", "cortex-a72", "cortex-a76", "neoverse-n1")


class DeviceError(SepnetError):
    """The emulated board cannot be built, started or reached."""


#: AT_HWCAP bit -> feature name (Linux arch/arm64 hwcap.h; the names /proc/cpuinfo and target presets use)
AARCH64_HWCAP = {0: "fp", 1: "asimd", 3: "aes", 4: "pmull", 5: "sha1", 6: "sha2", 7: "crc32", 8: "atomics",
                 9: "fphp", 10: "asimdhp", 12: "asimdrdm", 20: "asimddp", 22: "sve"}

def cache_dir() -> str:
    return os.environ.get("TVM_SEPNET_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "tvm-sepnet"))


def _run(cmd, what: str, **kw) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise DeviceError(f"{what} failed ({' '.join(cmd[:3])} ...): {(res.stderr or res.stdout).strip()[-1500:]}")


def tree_root() -> str:
    return os.path.join(cache_dir(), "arm64")


def _ready_stamp(root: str) -> str:
    return os.path.join(root, "ready.json")


def tree_ready() -> bool:
    """Whether the arm64 tree under :func:`cache_dir` is built (building it needs network)."""
    return os.path.exists(_ready_stamp(tree_root()))


def build_tree(log=print) -> str:
    """Build (or reuse) the arm64 tree; returns its root. Needs root, mmdebstrap and qemu-user-static."""
    root = tree_root()
    rootfs = os.path.join(root, "rootfs")
    site = os.path.join(rootfs, "usr/local/lib/python3.11/dist-packages")
    stamp = _ready_stamp(root)
    if os.path.exists(stamp):
        _write_scripts(root)  # ours, not the cached tree's: always this version's
        return root
    absent = system_tools.missing(("mmdebstrap", "qemu-aarch64-static"))
    if absent:
        raise DeviceError(f"building the arm64 board needs {', '.join(absent)}, {system_tools.not_installed(absent)}; "
                          f"{system_tools.install_hint(absent)}")
    os.makedirs(root, exist_ok=True)
    t0 = time.time()
    if not os.path.exists(os.path.join(rootfs, "usr/bin/python3.11")):
        shutil.rmtree(rootfs, ignore_errors=True)
        log("[device] arm64 Debian tree (mmdebstrap --variant=extract)")
        _run(["mmdebstrap", "--mode=root", "--arch=arm64", "--variant=extract", "--include=python3,libstdc++6",
              "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
              "--dpkgopt=path-exclude=/usr/share/locale/*", "bookworm", rootfs], "mmdebstrap")
    wheels = os.path.join(root, "wheels")
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    common = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", *plat]
    log("[device] aarch64 wheels (host pip)")
    _run([sys.executable, "-m", "pip", "download", "-q", *common, "-d", wheels, *WHEELS], "pip download")
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, *common,
          "--target", site, "--upgrade", *WHEELS], "pip install --target")
    compiler = os.path.join(site, "tvm", "lib", "libtvm_compiler.so")
    if os.path.exists(compiler):
        os.unlink(compiler)  # runtime only on the board
    _write_scripts(root)
    with open(stamp, "w", encoding="utf-8") as f:
        json.dump({"tvm": TVM_VERSION, "seconds": time.time() - t0}, f)
    log(f"[device] arm64 tree ready in {time.time() - t0:.0f} s: {root}")
    return root


def _write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` by ``text`` in one rename (a board starting meanwhile reads the old or the new file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _write_scripts(root: str) -> None:
    rootfs = os.path.join(root, "rootfs")
    wrapper = os.path.join(root, "python-aarch64")
    _write_atomic(wrapper, f"""#!/bin/sh
# aarch64 CPython of the emulated board under qemu-user. QEMU_CPU must name a core (set by
# tvm-sepnet device start); an empty value would fall back to qemu's "max" (every extension).
[ -n "${{QEMU_CPU:-}}" ] || {{ echo "python-aarch64: QEMU_CPU is not set" >&2; exit 2; }}
export TVM_USE_RUNTIME_LIB=1
export PYTHONPATH="${{BOARD_PYTHONPATH:-}}"
unset PYTHONHOME
exec qemu-aarch64-static -L "{rootfs}" "{rootfs}/usr/bin/python3.11" "$@"
""", mode=0o755)
    _write_atomic(os.path.join(root, "board_server.py"),
                  f"""# TVM RPC server of the emulated board (runs inside the aarch64 Python).
import argparse, sys, time
sys.executable = {wrapper!r}  # TVM's server execs sys.executable for its workers: the x86 wrapper
from tvm import rpc


def register():  # runs in every session's worker process
    import json, os, platform
    import tvm

    def features():  # the kernel's AT_HWCAP bits, named as /proc/cpuinfo names them (qemu sets them per -cpu)
        import ctypes
        hwcap = ctypes.CDLL(None).getauxval
        hwcap.restype = ctypes.c_ulong
        bits = hwcap(16)
        names = {AARCH64_HWCAP!r}
        return sorted(name for bit, name in names.items() if bits >> bit & 1)

    @tvm.register_global_func("sepnet.device_info", override=True)
    def _device_info():
        return json.dumps({{"machine": platform.machine(), "cpu": os.environ.get("QEMU_CPU", ""), "emulated": True,
                           "features": features()}})


p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--port-end", type=int, required=True)
p.add_argument("--tracker")
p.add_argument("--key", default="")
a = p.parse_args()
tracker = None
if a.tracker:
    host, port = a.tracker.rsplit(":", 1)
    tracker = (host, int(port))
server = rpc.Server(a.host, a.port, a.port_end, key=a.key, tracker_addr=tracker, server_init_callback=register)
while True:
    time.sleep(3600)
""")


def _state_dir() -> str:
    path = os.path.join(cache_dir(), "devices")
    os.makedirs(path, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def start(arch: str = "arm64", cpu: str = "cortex-a72", port: int | None = None, tracker: str | None = None,
          key: str | None = None, timeout: float = 90.0, log=print, preset: str | None = None) -> dict:
    """Start an emulated board's RPC server on 127.0.0.1; returns its state (pid, port, cpu, ...).
    ``arch`` ``arm64`` (qemu, ``cpu`` pinned) or ``fpga-sim`` (the simulated accelerator ``preset``)."""
    if tracker and not key:
        raise DeviceError("--tracker needs --key")
    port = port or free_port()
    env = dict(os.environ)
    if arch == "fpga-sim":
        preset = preset or "zcu104"
        spec = load_spec(preset)  # a bad description fails before anything starts
        cpu = f"{spec.name} (simulated)"
        cmd = [sys.executable, "-m", "tvm_sepnet.fpga.rpc_server", "--preset", preset]
    elif arch == "arm64":
        if cpu not in CPUS:
            raise DeviceError(f"unknown --cpu {cpu!r}; choose one of {', '.join(CPUS)}")
        absent = system_tools.missing(("qemu-aarch64-static",))  # the board's Python runs under it
        if absent:
            raise DeviceError(f"an emulated arm64 board needs {', '.join(absent)}, {system_tools.not_installed(absent)}; "
                              f"{system_tools.install_hint(absent)}")
        root = build_tree(log)
        cmd = [os.path.join(root, "python-aarch64"), os.path.join(root, "board_server.py")]
        env.update(QEMU_CPU=cpu, TMPDIR=os.path.join(root, "tmp"))
        os.makedirs(env["TMPDIR"], exist_ok=True)
    else:
        raise DeviceError(f"no emulated board for arch {arch!r} (arm64, or fpga-sim; armv7 has no TVM runtime "
                          "wheels: its kernels are tested with the C loader)")
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)]
    if tracker:
        cmd += ["--tracker", tracker, "--key", key]
    logfile = os.path.join(_state_dir(), f"{port}.log")
    with open(logfile, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    state = {"pid": proc.pid, "port": port, "arch": arch, "cpu": cpu, "tracker": tracker, "key": key,
             "log": logfile, "started": time.time(), "preset": preset}
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise DeviceError(f"the board's RPC server exited (status {proc.returncode}); log: {logfile}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.time() > deadline:
                _kill(proc.pid)
                raise DeviceError(f"the board's RPC server did not accept connections within {timeout:.0f} s; log: {logfile}")
            time.sleep(0.3)
    with open(os.path.join(_state_dir(), f"{port}.json"), "w", encoding="utf-8") as f:
        json.dump(state, f)
    log(f"[device] {arch} ({cpu}, emulated) RPC server on 127.0.0.1:{port}, pid {proc.pid}"
        + (f", tracker {tracker} key {key}" if tracker else ""))
    return state


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(50):
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def status() -> list[dict]:
    """Recorded boards with ``alive``."""
    out = []
    for name in sorted(os.listdir(_state_dir())):
        if name.endswith(".json"):
            with open(os.path.join(_state_dir(), name), encoding="utf-8") as f:
                state = json.load(f)
            state["alive"] = _alive(state["pid"])
            out.append(state)
    return out


def stop(port: int | None = None) -> list[dict]:
    """Stop the board on ``port`` (all recorded boards if None), by pid; returns what was stopped."""
    stopped = []
    for state in status():
        if port is not None and state["port"] != port:
            continue
        _kill(state["pid"])
        os.unlink(os.path.join(_state_dir(), f"{state['port']}.json"))
        stopped.append(state)
    if port is not None and not stopped:
        raise DeviceError(f"no board recorded on port {port}; see tvm-sepnet device status")
    return stopped
