"""Host driver of the accelerator and the packed functions the compiled graph calls.

``run_layer(program, spec, x, residual)`` is what the host does around one offloaded layer: quantize
the float32 NCHW input to the layer's codes (``clip(rint(x * inv_scale), lo, hi)``, the contract of
``schedules.quantize``), pack them into the DRAM input layout (``compiler`` module docstring), write
the residual, run the program on a fresh :class:`~.simulator.Device` holding the layer's DRAM image,
and unpack the float32 output to NCHW. Batches run image by image. Every layer's cycle statistics
are accumulated in :data:`COUNTERS` (per layer name) for the reports. ``engine`` picks what runs the
program: ``"sim"`` the Python simulator (:class:`~.simulator.Device`, the fast default), ``"rtl"`` the
accelerator's RTL under Verilator (:class:`~.cosim.RtlDevice`, the ``fpga-rtl`` targets).

:func:`register_programs` registers one packed function per offloaded layer, named
``sepnet.fpga.<model id>.<layer>``, with the destination-passing signature of
``R.call_dps_packed``: ``(x[, residual], out)``.
"""
from __future__ import annotations

import numpy as np

from schedules.quantize.reference import quantize

from ..targets.accelerator import AcceleratorSpec
from .compiler import LayerProgram, output_bytes
from .simulator import Device

COUNTERS: dict[str, dict] = {}
ENGINES = ("sim", "rtl")


def device_class(engine: str):
    """What runs the programs: the simulator (``sim``) or the RTL co-simulation (``rtl``)."""
    if engine == "sim":
        return Device
    if engine == "rtl":
        from .cosim import RtlDevice

        return RtlDevice
    raise ValueError(f"unknown accelerator engine {engine!r} (known: {', '.join(ENGINES)})")


def _to_blocks(t: np.ndarray, groups: int, per_group: int, blocks: int, lanes: int) -> np.ndarray:
    """``(groups * per_group, H, W)`` -> ``[groups][blocks][H][W][lanes]``, channels zero-padded to
    ``blocks * lanes`` per group (the DRAM layout of inputs, residuals and outputs)."""
    h, w = t.shape[-2:]
    padded = np.zeros((groups, blocks * lanes, h, w), t.dtype)
    padded[:, :per_group] = t.reshape(groups, per_group, h, w)
    return np.ascontiguousarray(padded.reshape(groups, blocks, lanes, h, w).transpose(0, 1, 3, 4, 2))


def pack_input(codes: np.ndarray, prog: LayerProgram) -> np.ndarray:
    """One image's codes ``(C, H, W)`` -> the DRAM input bytes."""
    geo = prog.geometry
    blocks = _to_blocks(codes, geo["groups"], geo["cg"], geo["cb"], geo["blk"])  # G CB H W blk
    if prog.kind == "gemm":
        return blocks.view(np.uint8).ravel()
    bits = prog.quant["bits"]
    planes = (blocks.astype(np.uint8)[..., None, :] >> np.arange(bits, dtype=np.uint8)[:, None]) & 1  # ... bits blk
    return np.ascontiguousarray(np.packbits(planes, axis=-1, bitorder="little")).ravel()


def _unblocked(raw: np.ndarray, prog: LayerProgram, spec: AcceleratorSpec) -> np.ndarray:
    """Inverse of :func:`_to_blocks` for the float32 output."""
    geo = prog.geometry
    g_n, og, ob_n, bo = geo["groups"], geo["og"], geo["ob"], spec.block_out
    t = raw.reshape(g_n, ob_n, geo["ho"], geo["wo"], bo).transpose(0, 1, 4, 2, 3).reshape(g_n, ob_n * bo, geo["ho"], geo["wo"])
    return np.ascontiguousarray(t[:, :og]).reshape(geo["o"], geo["ho"], geo["wo"])


def run_layer(prog: LayerProgram, spec: AcceleratorSpec, x: np.ndarray, residual: np.ndarray | None = None,
              engine: str = "sim"):
    """float32 NCHW output of an offloaded layer, and the summed cycle statistics of its images (an RTL
    run's instruction ``schedule`` is the last image's)."""
    make_device = device_class(engine)
    q = prog.quant
    codes = quantize(np.asarray(x, np.float32), np.float32(q["inv_scale"]), q["lo"], q["hi"], q["dtype"])
    geo = prog.geometry
    out = np.empty((x.shape[0], geo["o"], geo["ho"], geo["wo"]), np.float32)
    total: dict = {}
    for n in range(x.shape[0]):
        dev = make_device(spec, prog.addr["end"])
        dev.dram[:prog.image.size] = prog.image
        inp = pack_input(codes[n], prog)
        dev.dram[prog.addr["input"]:prog.addr["input"] + inp.size] = inp
        if geo["residual"]:
            res = _to_blocks(np.asarray(residual[n], np.float32), geo["groups"], geo["og"], geo["ob"],
                             spec.block_out).view(np.uint8).ravel()
            dev.dram[prog.addr["residual"]:prog.addr["residual"] + res.size] = res
        stats = dev.run(prog.insns)
        raw = dev.dram[prog.addr["output"]:prog.addr["output"] + output_bytes(geo, spec)].view(np.float32)
        out[n] = _unblocked(raw, prog, spec)
        for k, v in stats.items():
            total[k] = v if k == "schedule" else total.get(k, 0) + v
    return out, total


def register_programs(model_id: str, programs: dict[str, LayerProgram], spec: AcceleratorSpec, engine: str = "sim") -> None:
    """Register ``sepnet.fpga.<model_id>.<layer>`` for each program (overriding older ones), run by
    ``engine`` (:func:`device_class`)."""
    device_class(engine)  # an unknown engine fails here, not at the first call
    import tvm

    for name, prog in programs.items():
        def run(*args, prog=prog, name=name):
            x = args[0].numpy()
            res = args[1].numpy() if prog.geometry["residual"] else None
            y, stats = run_layer(prog, spec, x, res, engine)
            args[-1].copyfrom(y)
            COUNTERS[name] = stats

        tvm.register_global_func(function_name(model_id, name), run, override=True)


def function_name(model_id: str, layer: str) -> str:
    return f"sepnet.fpga.{model_id}.{layer}"


def save_programs(programs: dict[str, LayerProgram], json_path: str, npz_path: str) -> None:
    import json

    arrays = {}
    for i, prog in enumerate(programs.values()):
        arrays[f"insns_{i}"], arrays[f"image_{i}"] = prog.insns, prog.image
    np.savez(npz_path, **arrays)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump([p.to_dict() for p in programs.values()], f)


def load_programs(json_path: str, npz_path: str) -> dict[str, LayerProgram]:
    import json

    with open(json_path, encoding="utf-8") as f:
        dicts = json.load(f)
    with np.load(npz_path) as z:
        return {d["name"]: LayerProgram.from_dict(d, z[f"insns_{i}"], z[f"image_{i}"]) for i, d in enumerate(dicts)}
