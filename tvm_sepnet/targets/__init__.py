"""Target presets: the single switch that picks TVM target, kernel family and export compiler.

A preset name (``x86``, ``x86-avx2``, ``x86-avx512``, ``arm64``, ``arm64-dotprod``, ``armv7``) maps to a TVM target dict,
the schedule family used by ``schedules/<op>/<family>.py`` and the compiler used by
``export_library``. Nothing else in the code branches on the target name.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from ..errors import SepnetError
from .accelerator import known_presets, load_spec


class UnknownTargetError(SepnetError):
    """Raised for a target name that is not a preset."""


@dataclass(frozen=True)
class TargetPreset:
    """A named compilation target."""

    name: str
    family: str  # schedule family: "x86", "arm", "arm_dotprod" (schedules/families.py)
    description: str
    target_dict: dict = field(default_factory=dict)
    export_cc: str | None = None  # None: the host compiler
    requires: tuple = ()  # CPU flags (/proc/cpuinfo names) the code needs to run
    cpu: str | None = None  # the core the code is built for (qemu -cpu when emulated; llvm-mca -mcpu)
    machine: str | None = None  # uname -m of a device that runs it (None: this x86 host)
    accelerator: str | None = None  # fpga-sim / fpga-rtl: the accelerator description (preset name or JSON path)
    accelerator_engine: str = "sim"  # what runs the offloaded layers: "sim" (Python simulator) or "rtl" (Verilator)

    @property
    def features(self) -> frozenset:
        """CPU features the compiled code may use (the ones it requires to run)."""
        return frozenset(self.requires)

    def tvm_target(self):
        import tvm

        return tvm.target.Target(dict(self.target_dict))

    @property
    def arch(self) -> str:
        return self.family


@functools.lru_cache(maxsize=None)
def host_mcpu() -> str:
    """The LLVM CPU name of this host as TVM detects it (e.g. ``znver3``, ``skylake-avx512``)."""
    import tvm

    return str(tvm.target.Target.from_device(tvm.cpu()).attrs.get("mcpu", "x86-64"))


def _num_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@functools.lru_cache(maxsize=None)
def host_cpu_flags() -> frozenset:
    """The CPU feature flags of this host as /proc/cpuinfo names them (empty if unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


AVX2_FLAGS = ("avx2", "fma", "popcnt")
AVX512_FLAGS = ("avx512f", "avx512bw", "avx512_vpopcntdq", "avx512_vnni")
#: instruction-set flags kernels choose instructions by (dot products, popcounts); the host preset
#: requires those of this host that it may use, so its artifacts refuse a host without them
ISA_FLAGS = AVX2_FLAGS + ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_vpopcntdq", "avx512_bitalg",
                          "avx_vnni", "amx_int8")


def _x86(name: str, mcpu: str, description: str, requires: tuple = ()) -> TargetPreset:
    return TargetPreset(name=name, family="x86", description=description,
                        target_dict={"kind": "llvm", "mcpu": mcpu, "num-cores": _num_cores()}, requires=requires)


def _x86_host() -> TargetPreset:
    flags = host_cpu_flags()
    return _x86("x86", host_mcpu(), "this x86-64 host (LLVM CPU detected at build time)",
                tuple(f for f in ISA_FLAGS if f in flags))


def _x86_avx2() -> TargetPreset:
    return _x86("x86-avx2", "haswell", "x86-64 with AVX2 + FMA (Haswell / Zen and newer): popcount emulated with vpshufb",
                AVX2_FLAGS)


def _x86_avx512() -> TargetPreset:
    return _x86("x86-avx512", "icelake-server", "x86-64 with AVX-512 VPOPCNTDQ + VNNI (Ice Lake server and newer)",
                AVX2_FLAGS + AVX512_FLAGS)


def _aarch64(name: str, cpu: str, mattr: list, description: str, family: str = "arm", requires: tuple = ()) -> TargetPreset:
    return TargetPreset(
        name=name,
        family=family,
        requires=requires,
        description=description,
        target_dict={"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": cpu, "mattr": mattr, "num-cores": 4},
        export_cc="aarch64-linux-gnu-g++",
        cpu=cpu,
        machine="aarch64",
    )


def _arm64() -> TargetPreset:
    return _aarch64("arm64", "cortex-a72", ["+neon"], "aarch64 Cortex-A72 (Raspberry Pi 4), NEON; 4 cores")


def _arm64_dotprod() -> TargetPreset:
    return _aarch64("arm64-dotprod", "cortex-a76", ["+neon", "+dotprod"],
                    "aarch64 Cortex-A76 / A55 class with +dotprod (sdot for int8); 4 cores",
                    family="arm_dotprod", requires=("asimddp",))


def _armv7() -> TargetPreset:
    return TargetPreset(
        name="armv7",
        family="arm",
        description="armv7-a Cortex-A7/A15 class, NEON, hard float (no TVM runtime wheels: C loader only); 4 cores",
        target_dict={"kind": "llvm", "mtriple": "armv7a-linux-gnueabihf", "mcpu": "cortex-a15",
                     "mattr": ["+neon"], "mfloat-abi": "hard", "num-cores": 4},
        export_cc="arm-linux-gnueabihf-g++",
        cpu="cortex-a15",
        machine="armv7l",
    )


_PRESETS = {"x86": _x86_host, "x86-avx2": _x86_avx2, "x86-avx512": _x86_avx512,
            "arm64": _arm64, "arm64-dotprod": _arm64_dotprod, "armv7": _armv7}


def missing_host_flags(preset: "TargetPreset") -> list[str]:
    """CPU flags a preset's code needs that this host lacks (empty: it runs here)."""
    flags = host_cpu_flags()
    if not flags:
        return []
    return [f for f in preset.requires if f not in flags]


def why_not_runnable_here(preset: "TargetPreset") -> str | None:
    """Why code compiled for ``preset`` cannot run on this host (None: it can)."""
    if preset.family != "x86":
        return (f"this artifact was built for target {preset.name!r}; it cannot run on this host. "
                "Deploy it to a device of that architecture (tvm-sepnet deploy)")
    missing = missing_host_flags(preset)
    if missing:
        return (f"this artifact was built for target {preset.name!r}, which needs CPU features this "
                f"host lacks ({', '.join(missing)}); compile it with --target x86 (this host) instead")
    return None


FPGA_PREFIX = "fpga-sim:"
FPGA_RTL_PREFIX = "fpga-rtl:"


def _fpga(name: str) -> TargetPreset:
    """``fpga-sim:<accelerator>``: offloaded layers run on the simulated accelerator
    (``tvm_sepnet.fpga``), the rest on this x86 host (the SoC's CPU in a real board);
    ``fpga-rtl:<accelerator>``: the same programs, run on the accelerator's RTL under Verilator."""
    rtl = name.startswith(FPGA_RTL_PREFIX)
    accel = name[len(FPGA_RTL_PREFIX if rtl else FPGA_PREFIX):]
    spec = load_spec(accel)
    host = _x86_host()
    how = "RTL co-simulated under Verilator" if rtl else "simulated"
    return TargetPreset(name=name, family=host.family, target_dict=host.target_dict, accelerator=accel,
                        accelerator_engine="rtl" if rtl else "sim",
                        description=f"VTA-style accelerator {spec.name} ({spec.part}, {spec.clock_mhz:g} MHz), {how}; "
                                    "host layers on this x86 host")


def known_targets() -> list[str]:
    return sorted(_PRESETS) + [prefix + p for prefix in (FPGA_PREFIX, FPGA_RTL_PREFIX) for p in known_presets()]


def get_target(name: str | TargetPreset) -> TargetPreset:
    """Resolve a preset name; an unknown name raises :class:`UnknownTargetError` listing the known ones."""
    if isinstance(name, TargetPreset):
        return name
    if isinstance(name, str) and name.startswith((FPGA_PREFIX, FPGA_RTL_PREFIX)):
        return _fpga(name)
    if name not in _PRESETS:
        raise UnknownTargetError(
            f"unknown target {name!r}; known targets: {', '.join(known_targets())}"
        )
    return _PRESETS[name]()
