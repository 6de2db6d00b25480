"""Co-simulation: the accelerator's RTL (``rtl/``) under Verilator, running the programs the compiler
produces, against a DRAM model (``rtl/sim/harness.cpp``).

:func:`build_model` verilates the RTL for one accelerator description (its parameters:
:func:`.rtl.rtl_parameters`) and links it with the harness into a shared library, built once per
description and RTL version and kept in a cache directory (``$SEPNET_RTL_CACHE``, default
``~/.cache/tvm-sepnet/rtl``; concurrent builds of the same model wait on a lock).
:class:`RtlDevice` has the interface of :class:`.simulator.Device` that the host driver uses
(``dram``, ``run(program)`` returning the cycle statistics), so :func:`.runtime.run_layer` runs a
layer on either: the cycles are the RTL's (from ``start`` to ``done``), the busy cycles per unit come
from the RTL's instruction trace, the DRAM bytes from the DRAM model; ``schedule`` lists each
instruction's (start, end) cycles, comparable with ``Device.run(..., schedule=True)``.

The instructions go into DRAM after the layer's image (aligned to 64 bytes), where the RTL's fetch
unit reads them. A missing ``verilator`` raises :class:`CosimError` naming the Debian package.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from ..errors import SepnetError
from ..targets.accelerator import AcceleratorSpec
from . import isa
from .rtl import TOP, RtlConfigError, rtl_dir, rtl_parameters, rtl_sources
from .simulator import Device

LIBRARY = "libsepnet_rtl.so"
VERILATOR_FLAGS = ["--cc", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal", "-Wno-lint",
                   "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT"]
CXXFLAGS = ["-O2", "-fPIC", "-std=c++17"]
INSTALL_HINT = "install the Debian package verilator (bash scripts/install_system_packages.sh installs it)"
_QUEUES = ("load", "compute", "store")


class CosimError(SepnetError):
    """Verilator missing, a failed RTL build, or an RTL run that did not finish."""


def verilator_version() -> str:
    exe = shutil.which("verilator")
    if exe is None:
        raise CosimError(f"verilator is not installed: the RTL co-simulation needs it; {INSTALL_HINT}")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def cache_root() -> str:
    return os.environ.get("SEPNET_RTL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tvm-sepnet", "rtl")


def _harness() -> str:
    return os.path.join(rtl_dir(), "sim", "harness.cpp")


def model_key(spec: AcceleratorSpec) -> str:
    """Hash of what a build depends on: RTL sources, harness, parameters, Verilator and flags."""
    h = hashlib.sha256()
    for path in rtl_sources() + [os.path.join(rtl_dir(), "isa_fields.svh"), _harness()]:
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(json.dumps([rtl_parameters(spec), VERILATOR_FLAGS, CXXFLAGS, verilator_version()]).encode())
    return h.hexdigest()[:16]


def build_model(spec: AcceleratorSpec, *, jobs: int = 2, log=None) -> str:
    """Path of the co-simulation library for ``spec``, verilated and compiled if the cache lacks it
    (its ``build.json`` records the build's seconds)."""
    params = rtl_parameters(spec)
    out = os.path.join(cache_root(), f"{spec.name}-{model_key(spec)}")
    lib = os.path.join(out, LIBRARY)
    if os.path.isfile(lib):
        return lib
    os.makedirs(cache_root(), exist_ok=True)
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(lib):  # built by another process while this one waited
            return lib
        t0 = time.time()
        tmp = tempfile.mkdtemp(prefix=".build-", dir=cache_root())
        try:
            _verilate(params, tmp, jobs, log)
            os.rename(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with open(os.path.join(out, "build.json"), "w", encoding="utf-8") as f:
            json.dump({"accelerator": spec.name, "parameters": params, "seconds": time.time() - t0}, f)
    return lib


def _run(cmd: list[str], cwd: str, log) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if log is not None:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise CosimError(f"RTL build step failed ({' '.join(cmd[:3])} ...):\n{tail}")


def _verilate(params: dict, build: str, jobs: int, log) -> None:
    verilator_version()
    root = subprocess.run(["verilator", "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                          check=True).stdout.strip()
    gflags = [f"-G{k}={v}" for k, v in params.items()]
    _run(["nice", "-n", "5", "verilator", *VERILATOR_FLAGS, "--build", "-j", str(jobs), "--top-module", TOP, "-I" + rtl_dir(),
          "--Mdir", "obj", "-CFLAGS", " ".join(CXXFLAGS), *gflags, *rtl_sources()], build, log)
    inc = [f"-I{os.path.join(build, 'obj')}", f"-I{root}/include", f"-I{root}/include/vltstd"]
    objs = []
    for src in (_harness(), f"{root}/include/verilated.cpp", f"{root}/include/verilated_threads.cpp"):
        objs.append(os.path.basename(src)[:-4] + ".o")
        _run(["nice", "-n", "5", "g++", *CXXFLAGS, f"-DBUS_BYTES={params['BUS_BYTES']}", *inc, "-c", src, "-o", objs[-1]],
             build, log)
    _run(["g++", "-shared", "-o", LIBRARY, *objs, f"obj/V{TOP}__ALL.a", "-pthread", "-latomic"], build, log)
    shutil.rmtree(os.path.join(build, "obj"), ignore_errors=True)


class _Model:
    """The loaded library and one instance of the Verilated accelerator (runs are sequential)."""

    def __init__(self, path: str):
        lib = ctypes.CDLL(path)
        lib.sepnet_rtl_new.restype = ctypes.c_void_p
        lib.sepnet_rtl_free.argtypes = [ctypes.c_void_p]
        u64p = np.ctypeslib.ndpointer(np.uint64, flags="C_CONTIGUOUS")
        lib.sepnet_rtl_run.argtypes = [ctypes.c_void_p, np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS"), ctypes.c_uint64,
                                       ctypes.c_uint64, ctypes.c_uint64, ctypes.c_double, ctypes.c_uint32, ctypes.c_uint64,
                                       u64p, u64p, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_int]
        lib.sepnet_rtl_run.restype = ctypes.c_int
        self.lib = lib
        self.handle = lib.sepnet_rtl_new()
        self.bus_bytes = lib.sepnet_rtl_bus_bytes()

    def __del__(self):
        if getattr(self, "handle", None):
            self.lib.sepnet_rtl_free(self.handle)


_MODELS: dict[str, _Model] = {}


def load_model(spec: AcceleratorSpec) -> _Model:
    path = build_model(spec)
    if path not in _MODELS:
        _MODELS[path] = _Model(path)
    return _MODELS[path]


class RtlDevice:
    """DRAM + the RTL of one accelerator (module docstring)."""

    def __init__(self, spec: AcceleratorSpec, dram_bytes: int):
        try:
            rtl_parameters(spec)
        except RtlConfigError as err:
            raise CosimError(str(err)) from None
        self.spec = spec
        self.dram = np.zeros(int(dram_bytes), np.uint8)
        self.model = load_model(spec)
        self._static = Device(spec, 0)  # per-instruction bytes and MACs, the cycle model

    def run(self, program, max_cycles: int | None = None) -> dict:
        """Run a program (a list of :class:`~.isa.Insn` or encoded words) on the RTL; the statistics
        of :meth:`.simulator.Device.run` plus ``fetch_bytes`` and ``schedule``."""
        words = program if isinstance(program, np.ndarray) else isa.encode_program(list(program))
        insns = isa.decode_program(words)
        base = -(-self.dram.size // 64) * 64
        mem = np.zeros(base + words.size * 8, np.uint8)
        mem[:self.dram.size] = self.dram
        mem[base:] = np.ascontiguousarray(words, dtype="<u8").view(np.uint8).ravel()
        if max_cycles is None:
            max_cycles = 4 * self._static.run(insns, functional=False)["cycles"] + 100_000
        stats = np.zeros(5, np.uint64)
        trace = np.zeros(4 * len(insns) + 16, np.uint64)
        err = ctypes.create_string_buffer(512)
        spec = self.spec
        code = self.model.lib.sepnet_rtl_run(self.model.handle, mem, mem.size, base, len(insns), spec.dram_bytes_per_cycle,
                                             spec.dram_latency_cycles, int(max_cycles), stats, trace, trace.size, err, 512)
        if code != 0:
            raise CosimError(f"RTL of {spec.name}: {err.value.decode()}")
        self.dram[:] = mem[:self.dram.size]
        return self._stats(insns, stats, trace[:int(stats[4])])

    def _stats(self, insns, raw, trace) -> dict:
        per_queue = {q: [i for i, insn in enumerate(insns) if insn.queue == q] for q in _QUEUES}
        starts = {q: [] for q in _QUEUES}
        ends = {q: [] for q in _QUEUES}
        for ev in trace.tolist():
            (ends if ev >> 2 & 1 else starts)[_QUEUES[ev & 3]].append(ev >> 8)
        schedule = [None] * len(insns)
        for q in _QUEUES:
            if len(starts[q]) != len(per_queue[q]) or len(ends[q]) != len(per_queue[q]):
                raise CosimError(f"RTL trace of the {q} queue has {len(starts[q])} starts and {len(ends[q])} ends for "
                                 f"{len(per_queue[q])} instructions")
            for i, s, e in zip(per_queue[q], starts[q], ends[q]):
                schedule[i] = (s, e + 1)  # end: the cycle its tokens can be used, as in the cycle model
        units = {"LOAD": "load", "STORE": "store", "GEMM": "gemm", "BGEMM": "bgemm", "ALU": "alu"}
        stats = {"cycles": int(raw[0]), "load": 0, "store": 0, "gemm": 0, "bgemm": 0, "alu": 0,
                 "dram_read": int(raw[1]), "dram_write": int(raw[2]), "fetch_bytes": int(raw[3]),
                 "macs": 0, "bit_macs": 0, "instructions": len(insns)}
        for insn, (s, e) in zip(insns, schedule):
            if insn.op in units:
                stats[units[insn.op]] += e - s
            stats["bit_macs" if insn.op == "BGEMM" else "macs"] += self._static.macs(insn)
        stats["schedule"] = schedule
        return stats
