"""qemu-user emulation of ARM targets, and the C kernel loader (``kernel_loader.c``).

A preset with ``machine`` set (``arm64``, ``arm64-dotprod``, ``armv7``) names its cross compiler
(``export_cc``) and its core (``cpu``). Code built for it runs here under ``qemu-<arch>-static`` with
``-cpu`` pinned to that core (never qemu's default ``max``, which has every extension: a kernel using
an extension the core lacks must fail, as it would on the board) and ``-L`` the Debian cross sysroot.

:func:`run_kernel` exports one kernel PrimFunc for the preset, runs it through the loader (no TVM
runtime on the target: armv7 has no TVM wheels) and returns its outputs. Emulated timings are not a
speed signal.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from .. import system_tools
from ..errors import SepnetError

LOADER_SOURCE = os.path.join(os.path.dirname(__file__), "kernel_loader.c")
_ARCH = {"aarch64": ("qemu-aarch64-static", "aarch64-linux-gnu"), "armv7l": ("qemu-arm-static", "arm-linux-gnueabihf")}


class EmulationError(SepnetError):
    """Missing tools, or code that failed under emulation."""


def _arch(preset):
    if preset.machine not in _ARCH:
        raise EmulationError(f"target {preset.name!r} is not an emulated ARM target")
    return _ARCH[preset.machine]


def missing_tools(preset) -> list[str]:
    """Executables the preset's emulation needs that are not on PATH."""
    qemu, triple = _arch(preset)
    return system_tools.missing((qemu, f"{triple}-gcc", preset.export_cc))


def require_tools(preset) -> None:
    missing = missing_tools(preset)
    if missing:
        raise EmulationError(f"emulating target {preset.name!r} needs {', '.join(missing)}, "
                             f"{system_tools.not_installed(missing)}; {system_tools.install_hint(missing)}")


def qemu_command(preset, cpu: str | None = None) -> list[str]:
    """``[qemu, -cpu CORE, -L SYSROOT]`` for the preset (``cpu`` overrides the preset's core)."""
    qemu, triple = _arch(preset)
    core = cpu or preset.cpu
    if not core:
        raise EmulationError(f"target {preset.name!r} names no CPU to pin qemu to")
    return [qemu, "-cpu", core, "-L", f"/usr/{triple}"]


def build_loader(preset, out_dir: str) -> str:
    """Cross-compile the kernel loader for the preset into ``out_dir``; returns its path (cached)."""
    import tvm_ffi

    require_tools(preset)
    _, triple = _arch(preset)
    path = os.path.join(out_dir, f"kernel_loader-{triple}")
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(LOADER_SOURCE):
        return path
    include = os.path.join(os.path.dirname(tvm_ffi.__file__), "include")
    cmd = [f"{triple}-gcc", "-O2", "-std=c11", "-rdynamic", "-I", include, "-o", path + ".tmp", LOADER_SOURCE,
           "-ldl", "-lpthread"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise EmulationError(f"building the kernel loader failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    os.replace(path + ".tmp", path)
    return path


def export_kernel(func, preset, path: str) -> str:
    """Compile a PrimFunc (no global_symbol needed) for the preset and export it with its cross compiler."""
    import tvm
    from tvm.support import cc as tcc

    require_tools(preset)
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), preset.tvm_target())
    lib.export_library(path, fcompile=tcc.cross_compiler(preset.export_cc))
    return path


def run_kernel(func, preset, inputs: list[np.ndarray], outputs: list[tuple], *, cpu: str | None = None,
               work_dir: str | None = None, timeout: float = 300.0) -> list[np.ndarray]:
    """Run kernel PrimFunc ``func`` (parameters: ``inputs`` then ``outputs`` as (shape, dtype)) built for
    ``preset`` under qemu pinned to ``cpu`` (default: the preset's core); returns the outputs."""
    own = work_dir is None
    work_dir = work_dir or tempfile.mkdtemp(prefix="sepnet-emu-")
    try:
        loader = build_loader(preset, work_dir)
        lib = export_kernel(func, preset, os.path.join(work_dir, "kernel.so"))
        args = []
        for i, a in enumerate(inputs):
            a = np.ascontiguousarray(a)
            p = os.path.join(work_dir, f"in{i}.bin")
            a.tofile(p)
            args.append(f"in:{p}:{a.dtype}:{'x'.join(str(d) for d in a.shape) or '1'}")
        for i, (shape, dtype) in enumerate(outputs):
            args.append(f"out:{os.path.join(work_dir, f'out{i}.bin')}:{np.dtype(dtype)}:{'x'.join(str(d) for d in shape)}")
        cmd = qemu_command(preset, cpu) + [loader, lib, "__tvm_ffi_main", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise EmulationError(
                f"kernel failed under {' '.join(cmd[:3])} (exit {res.returncode}"
                f"{', signal ' + str(-res.returncode) if res.returncode < 0 else ''}): {res.stderr.strip()[-1500:]}")
        return [np.fromfile(os.path.join(work_dir, f"out{i}.bin"), dtype=np.dtype(dt)).reshape(shape)
                for i, (shape, dt) in enumerate(outputs)]
    finally:
        if own:
            shutil.rmtree(work_dir, ignore_errors=True)
