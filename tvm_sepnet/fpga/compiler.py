"""One ``sepnet.conv2d`` layer -> an accelerator program (:class:`LayerProgram`).

Which layers run on the accelerator (:func:`offload_kind`): binary k×k (and 1×1) convs with unsigned
A-bit activations go to the binary unit (BGEMM), int8-weight convs with 8-bit activations to the int8
core (GEMM); both with their epilogue, fused residual add and ReLU on the ALU. Everything else (float
layers, pooling, the classifier's reshape) stays on the host.

DRAM layouts (one image, byte addresses; ``B`` = block_in for GEMM, bin_in for BGEMM, ``CB =
ceil(Cg / B)`` input blocks per group, ``OB = ceil(Og / block_out)`` output blocks per group;
channels past a group's end are zero):

- weights ``[G][OB][KH*KW][CB]`` rows: GEMM ``[block_out][block_in]`` int8, BGEMM ``[block_out][words]``
  uint64 sign bits (bit c of word w = 1 iff ``W[o, 64w + c] = +1``);
- params ``[G][OB]`` rows ``(scale[block_out], offset[block_out])`` float32 (padded lanes 0);
- input ``[G][CB][H][W]`` rows: GEMM ``block_in`` bytes (uint8 or int8 codes), BGEMM ``A`` bit-planes of
  ``words`` uint64 (plane j holds bit j of each channel's code);
- residual and output ``[G][OB][Ho][Wo][block_out]`` float32.

Schedule: tiles of ``tile_h`` output rows, looping group -> output block -> row tile. Per tile the
load queue brings the input rows it needs (with the conv padding done by the LOAD) and, when the
output block changes, its weights; the compute queue zeroes the accumulators, issues one GEMM/BGEMM
per kernel tap over all input blocks, loads the residual rows, runs the ALU epilogue; the store queue
writes the tile. Input, weight, accumulator and param buffers are split into two slots (tiles
alternate), so tile ``i + 1`` loads while tile ``i`` computes and tile ``i - 1`` stores; tokens:
load -> compute (inputs ready), compute -> load (slot of tile ``i - 2`` free), compute -> store
(results ready), store -> compute (accumulator slot of tile ``i - 2`` stored). Knobs: ``tile_h``
(None: the largest that fits the buffers), ``slots`` (2: double buffering as above; 1: one slot of
twice the size, tiles run one after the other).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from schedules.common import act_range

from ..errors import SepnetError
from ..targets.accelerator import AcceleratorSpec
from . import isa

KNOBS = {"tile_h": None, "slots": 2}


class OffloadError(SepnetError):
    """A layer that the accelerator cannot run with this description (names layer, shape and buffer)."""


def offload_kind(attrs) -> str | None:
    """``"bgemm"``, ``"gemm"`` or None (host) for a layer's ConvAttrs."""
    act = attrs.act
    if attrs.weight_format == "binary" and act["kind"] == "uint":
        return "bgemm"
    if attrs.weight_format == "int8" and act["kind"] in ("uint", "int") and act["bits"] <= 8:
        return "gemm"
    return None


def activation_range(attrs) -> tuple[int, int, str]:
    """(lo, hi, dtype) of the layer's activation codes (the contract of schedules.quantize)."""
    return act_range(attrs.act["kind"], attrs.act["bits"])


@dataclass
class LayerProgram:
    """An offloaded layer: its instruction stream, DRAM image and the layouts the driver packs."""

    name: str
    kind: str
    geometry: dict
    insns: np.ndarray  # (n, isa.WORDS) uint64
    image: np.ndarray  # uint8 weights + params, at DRAM address 0
    addr: dict  # byte addresses: input, residual, output, end
    quant: dict  # lo, hi, dtype, inv_scale, bits
    knobs: dict = field(default_factory=dict)
    tiles: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "geometry": self.geometry, "addr": self.addr,
                "quant": self.quant, "knobs": self.knobs, "tiles": self.tiles}

    @staticmethod
    def from_dict(d: dict, insns: np.ndarray, image: np.ndarray) -> "LayerProgram":
        return LayerProgram(d["name"], d["kind"], d["geometry"], insns, image, d["addr"], d["quant"], d["knobs"], d["tiles"])


def bundle_size(groups: int, cg: int, og: int, blk: int, block_out: int) -> int:
    """Groups of a grouped conv computed together in one input row / output block (block-diagonal
    weights): the largest divisor of ``groups`` whose channels fit one ``blk`` row and ``block_out``."""
    return max(d for d in range(1, groups + 1) if groups % d == 0 and (d == 1 or (d * cg <= blk and d * og <= block_out)))


def _geometry(attrs, x_shape, spec: AcceleratorSpec, kind: str) -> dict:
    n, c, h, w = (int(v) for v in x_shape)
    _, o, ho, wo = attrs.out_shape(x_shape)
    blk = spec.bin_in if kind == "bgemm" else spec.block_in
    cg_real, og_real = c // attrs.groups, o // attrs.groups
    gb = bundle_size(attrs.groups, cg_real, og_real, blk, spec.block_out)
    g, cg, og = attrs.groups // gb, gb * cg_real, gb * og_real  # bundles act as the groups below
    pt, pl, pb, pr = (int(p) for p in attrs.padding)
    kh, kw = (int(k) for k in attrs.kernel)
    return {"n": n, "c": c, "h": h, "w": w, "o": int(o), "ho": int(ho), "wo": int(wo), "groups": g, "cg": cg, "og": og,
            "kh": kh, "kw": kw, "sh": int(attrs.strides[0]), "sw": int(attrs.strides[1]), "dh": int(attrs.dilation[0]),
            "dw": int(attrs.dilation[1]), "pad": (pt, pl, pb, pr), "blk": blk, "cb": -(-cg // blk),
            "ob": -(-og // spec.block_out), "relu": bool(attrs.relu), "residual": bool(attrs.residual),
            "bundle": gb, "cg_real": cg_real, "og_real": og_real}


def _block_diagonal(weights: np.ndarray, geo: dict) -> np.ndarray:
    """OIHW weights of a grouped conv -> per bundle of ``geo["bundle"]`` groups one dense block-diagonal
    conv ``(bundles * og, cg, KH, KW)`` (zeros across groups; masked away in BGEMM)."""
    gb, cgr, ogr = geo["bundle"], geo["cg_real"], geo["og_real"]
    if gb == 1:
        return weights
    out = np.zeros((geo["o"], geo["cg"], geo["kh"], geo["kw"]), weights.dtype)
    for o in range(geo["o"]):
        i = (o // ogr) % gb
        out[o, i * cgr:(i + 1) * cgr] = weights[o]
    return out


def _weight_image(signs_or_wq: np.ndarray, geo: dict, spec: AcceleratorSpec, kind: str) -> np.ndarray:
    """Weights ``[G][OB][KT][CB]`` rows as bytes (module docstring)."""
    g_n, ob_n, cb_n, blk, bo = geo["groups"], geo["ob"], geo["cb"], geo["blk"], spec.block_out
    kt = geo["kh"] * geo["kw"]
    w = signs_or_wq.reshape(g_n, geo["og"], geo["cg"], kt)
    full = np.zeros((g_n, ob_n * bo, cb_n * blk, kt), np.int8)
    full[:, :geo["og"], :geo["cg"]] = w
    full = full.reshape(g_n, ob_n, bo, cb_n, blk, kt).transpose(0, 1, 5, 3, 2, 4)  # G OB KT CB bo blk
    if kind == "gemm":
        return np.ascontiguousarray(full).view(np.uint8).ravel()
    bits = np.packbits(full > 0, axis=-1, bitorder="little")  # (..., blk / 8) bytes = little-endian words
    return np.ascontiguousarray(bits).ravel()


def _param_image(scale: np.ndarray, offset: np.ndarray, geo: dict, spec: AcceleratorSpec) -> np.ndarray:
    bo = spec.block_out
    rows = np.zeros((geo["groups"], geo["ob"] * bo, 2), np.float32)
    rows[:, :geo["og"], 0] = scale.reshape(geo["groups"], geo["og"])
    rows[:, :geo["og"], 1] = offset.reshape(geo["groups"], geo["og"])
    rows = rows.reshape(geo["groups"], geo["ob"], bo, 2).transpose(0, 1, 3, 2)  # G OB 2 bo
    return np.ascontiguousarray(rows).view(np.uint8).ravel()


def tile_rows_fit(geo: dict, spec: AcceleratorSpec, kind: str, slots: int):
    """Predicate: does a tile of ``th`` output rows fit the buffers split in ``slots``."""
    inp = _buffers(kind)[0]
    wp = geo["w"] + geo["pad"][1] + geo["pad"][3]
    acc_per_row = geo["wo"] * (2 if geo["residual"] else 1)

    def fits(th):
        in_rows = (th - 1) * geo["sh"] + (geo["kh"] - 1) * geo["dh"] + 1
        return (geo["cb"] * in_rows * wp <= spec.rows(inp) // slots and th * acc_per_row <= spec.rows("acc") // slots
                and th <= 255)
    return fits


def _choose_tile_h(geo: dict, spec: AcceleratorSpec, kind: str, want, name: str, slots: int) -> int:
    inp, wgt = _buffers(kind)
    kt = geo["kh"] * geo["kw"]
    if kt * geo["cb"] > spec.rows(wgt) // slots:
        raise OffloadError(f"layer {name!r}: {kt * geo['cb']} weight rows per output block (kernel {geo['kh']}x{geo['kw']}, "
                           f"{geo['cg']} channels per group) exceed 1/{slots} of the {spec.rows(wgt)}-row {wgt} buffer of "
                           f"{spec.name}: use a preset with a larger {wgt} buffer")
    fits = tile_rows_fit(geo, spec, kind, slots)
    if not fits(1):
        raise OffloadError(f"layer {name!r} (input {geo['c']}x{geo['h']}x{geo['w']}, kernel {geo['kh']}x{geo['kw']}): one "
                           f"output row needs more than 1/{slots} of the {inp} ({spec.rows(inp)} rows) or acc "
                           f"({spec.rows('acc')} rows) buffer of {spec.name}: use a preset with larger buffers")
    if want is not None:
        th = int(want)
        th = min(th, geo["ho"])
        if th < 1 or not fits(th):
            raise OffloadError(f"layer {name!r}: tile_h={th} does not fit the {spec.name} buffers with {slots} slot(s) "
                               f"(1..{max(t for t in range(1, geo['ho'] + 1) if fits(t))})")
        return th
    return max(t for t in range(1, geo["ho"] + 1) if fits(t))


def layer_geometry(attrs, x_shape, spec: AcceleratorSpec) -> tuple[str, dict]:
    """(unit kind, geometry) of an offloadable layer, before any tiling choice."""
    kind = offload_kind(attrs)
    return kind, _geometry(attrs, x_shape, spec, kind)


def compile_layer(name: str, attrs, x_shape, weights: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                  inv_scale: float, spec: AcceleratorSpec, knobs=None) -> LayerProgram:
    """Program of one layer for one image (the driver loops over the batch). ``weights``: ±1 int8
    OIHW signs (BGEMM) or int8 OIHW (GEMM); ``scale``/``offset``: the integer epilogue's vectors."""
    kind = offload_kind(attrs)
    if kind is None:
        raise OffloadError(f"layer {name!r}: {attrs.weight_format} weights with {attrs.act['kind']} activations "
                           "do not run on the accelerator")
    knobs = {**KNOBS, **(knobs or {})}
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise OffloadError(f"layer {name!r}: unknown accelerator knobs {sorted(unknown)} (known: {sorted(KNOBS)})")
    geo = _geometry(attrs, x_shape, spec, kind)
    if kind == "bgemm" and attrs.act["bits"] > spec.max_bits:
        raise OffloadError(f"layer {name!r}: {attrs.act['bits']}-bit activations exceed the binary unit's {spec.max_bits}")
    if max(geo["pad"]) > 15 or geo["sw"] > 15 or geo["wo"] > 255:
        raise OffloadError(f"layer {name!r}: padding {geo['pad']}, stride {geo['sw']} or output width {geo['wo']} "
                           "exceed the instruction fields (padding/stride <= 15, width <= 255)")
    if knobs["slots"] not in (1, 2):
        raise OffloadError(f"layer {name!r}: slots must be 1 or 2, got {knobs['slots']!r}")
    th = _choose_tile_h(geo, spec, kind, knobs["tile_h"], name, knobs["slots"])
    lo, hi, dtype = activation_range(attrs)
    bits = attrs.act["bits"]
    wimg = _weight_image(_block_diagonal(np.asarray(weights), geo), geo, spec, kind)
    pimg = _param_image(scale, offset, geo, spec)
    g_n, ob_n, cb_n = geo["groups"], geo["ob"], geo["cb"]
    h, w, ho = geo["h"], geo["w"], geo["ho"]
    in_elem = spec.elem_bytes(_buffers(kind)[0], bits)
    addr = {"params": int(wimg.size)}
    addr["input"] = _align(addr["params"] + pimg.size)
    addr["residual"] = _align(addr["input"] + g_n * cb_n * h * w * in_elem)
    out_bytes = output_bytes(geo, spec)
    addr["output"] = _align(addr["residual"] + (out_bytes if geo["residual"] else 0))
    addr["end"] = _align(addr["output"] + out_bytes)
    image = np.concatenate([wimg, pimg])
    insns = _schedule(geo, spec, kind, th, knobs["slots"], bits, addr, signed=int(dtype == "int8"))
    quant = {"lo": lo, "hi": hi, "dtype": dtype, "inv_scale": float(inv_scale), "bits": bits}
    return LayerProgram(name, kind, geo, isa.encode_program(insns), image, addr, quant, {"tile_h": th, "slots": knobs["slots"]},
                        tiles=g_n * ob_n * -(-ho // th))


def _buffers(kind: str) -> tuple[str, str]:
    """(input buffer, weight buffer) of a unit."""
    return ("bin_inp", "bin_wgt") if kind == "bgemm" else ("inp", "wgt")


def output_bytes(geo: dict, spec: AcceleratorSpec) -> int:
    """Bytes of one image's output (and residual) in DRAM: ``[G][OB][Ho][Wo][block_out]`` float32."""
    return geo["groups"] * geo["ob"] * geo["ho"] * geo["wo"] * spec.block_out * 4


def _align(n: int, to: int = 64) -> int:
    return -(-int(n) // to) * to


def _schedule(geo, spec, kind, th, slots, bits, addr, *, signed) -> list:
    binary = kind == "bgemm"
    inp_buf, wgt_buf = _buffers(kind)
    in_elem, wgt_row_bytes = spec.elem_bytes(inp_buf, bits), spec.row_bytes(wgt_buf)
    half = {b: spec.rows(b) // slots for b in (inp_buf, wgt_buf, "acc")}
    pt, pl, pb, pr = geo["pad"]
    wp = geo["w"] + pl + pr
    kt, cb_n, ob_n = geo["kh"] * geo["kw"], geo["cb"], geo["ob"]
    h, w, ho, wo = geo["h"], geo["w"], geo["ho"], geo["wo"]
    out_row = 4 * spec.block_out
    prog = []
    tile = 0
    for g in range(geo["groups"]):
        for ob in range(ob_n):
            wslot = (g * ob_n + ob) % slots
            for y0 in range(0, ho, th):
                rows = min(th, ho - y0)
                slot = tile % slots
                in_rows = (rows - 1) * geo["sh"] + (geo["kh"] - 1) * geo["dh"] + 1
                r0 = y0 * geo["sh"] - pt
                top, bottom = max(0, -r0), max(0, r0 + in_rows - h)
                # load queue: weights of a new output block, then the input rows of every input block
                loads = []
                if y0 == 0:
                    wdram = (g * ob_n + ob) * kt * cb_n * wgt_row_bytes
                    loads.append(isa.load(wgt_buf, wslot * half[wgt_buf], wdram, 1, kt * cb_n, kt * cb_n))
                for cb in range(cb_n):
                    dram = addr["input"] + (((g * cb_n + cb) * h) + r0 + top) * w * in_elem
                    loads.append(isa.load(inp_buf, slot * half[inp_buf] + cb * in_rows * wp, dram, in_rows - top - bottom,
                                          w, w, pads=(top, bottom, pl, pr), planes=bits if binary else 0))
                loads[0].pop_next = tile >= slots
                loads[-1].push_next = True
                prog += loads
                # compute queue
                acc = slot * half["acc"]
                n_out = rows * wo
                comp = [isa.gemm(False, reset=1, acc=acc, y_ext=rows, x_ext=wo, acc_y=wo, acc_x=1,
                                 pop_prev=True, pop_next=tile >= slots)]
                if y0 == 0:
                    comp.append(isa.load("param", wslot, addr["params"] + (g * ob_n + ob) * 8 * spec.block_out, 1, 1, 1))
                ibase = slot * half[inp_buf]
                for ky in range(geo["kh"]):
                    for kx in range(geo["kw"]):
                        t = ky * geo["kw"] + kx
                        grouped = ({"group_in": geo["cg_real"], "group_out": geo["og_real"]}
                                   if binary and geo["bundle"] > 1 else {})
                        comp.append(isa.gemm(binary, bits=bits if binary else 0, signed=0 if binary else signed, **grouped,
                                             acc=acc, inp=ibase + ky * geo["dh"] * wp + kx * geo["dw"],
                                             wgt=wslot * half[wgt_buf] + t * cb_n, y_ext=rows, x_ext=wo, k_ext=cb_n,
                                             acc_y=wo, acc_x=1, inp_y=geo["sh"] * wp, inp_x=geo["sw"], inp_k=in_rows * wp,
                                             wgt_k=1))
                comp[-1].push_prev = True  # the input slot is free once the last tap ran
                out_dram = addr["output"] + ((g * ob_n + ob) * ho + y0) * wo * out_row
                comp.append(isa.alu("affine", acc, n_out, param=wslot))
                if geo["residual"]:
                    res_dram = addr["residual"] + ((g * ob_n + ob) * ho + y0) * wo * out_row
                    comp.append(isa.load("acc", acc + n_out, res_dram, rows, wo, wo))
                    comp.append(isa.alu("add", acc, n_out, src=acc + n_out))
                if geo["relu"]:
                    comp.append(isa.alu("relu", acc, n_out))
                comp[-1].push_next = True
                prog += comp
                prog.append(isa.store(acc, out_dram, rows, wo, wo, pop_prev=True, push_prev=True))
                tile += 1
    prog.append(isa.finish())
    return prog
