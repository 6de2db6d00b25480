"""Functional simulator and cycle model of the accelerator (:mod:`.isa` for the semantics).

:class:`Device` holds DRAM (bytes) and the on-chip buffers of an :class:`~.spec.AcceleratorSpec`.
:meth:`Device.run` executes a program the way the hardware would: the three queues (load, compute,
store) each run their instructions in order, an instruction starts when its queue is free, the tokens
it pops have been pushed and (for DMA) the single DRAM port is free; it pushes its tokens when it
ends. Instructions execute functionally in start-time order, so a program with a missing dependency
token computes with stale buffers, as the hardware would, and a program whose tokens can never
arrive raises :class:`SimulatorError` (deadlock) instead of hanging.

Cycle model (per instruction), calibrated against the RTL (rtl/, docs/fpga.md "Cycle model"):

- LOAD: the DMA engine's writes, one per cycle in order (a padding write of up to ``bus / row`` zero
  inp rows or one ``bus_bytes`` piece; a data write of one memory beat: ``bus / row`` inp rows, one row
  of the other buffers, or a piece of a wider row) against the memory's stream (one DRAM row per
  request, ``dram_latency`` after it, at the DRAM bytes per cycle, at most a beat per cycle):
  :func:`load_timing`, + 3; STORE: ``dram_latency + max(ceil(bytes / DRAM bytes per cycle), beats) + 4``;
- GEMM ``y*x*k`` (``y*x`` for a reset) + 7 (issue, buffer read, two core stages, accumulate, write
  back, done); BGEMM ``y*x*k*bits`` + 8 (bit-serial: one bit-plane per cycle), plus the binary unit's
  mask rebuild when (group_in, group_out, valid) differ from the previous BGEMM's (1 cycle, or
  ``block_out + 1`` for a grouped row);
- ALU ``(rows - 1) * max(segs, reads) + segs + 10 + reads - 1`` with ``segs = block_out / alu_lanes``
  (a row is read, then fed to the lanes one segment per cycle) and ``reads`` = 2 for add / min / max
  (the accumulator buffer has one read port per bank), else 1;
- instruction fetch has its own memory channel: instruction ``n`` (program order) reaches its queue at
  ``dram_latency + 2 + n`` at the earliest;
- one DMA instruction holds the data port at a time; when several wait for it, the compute queue's
  LOAD goes first (it stalls the compute units), then the load queue's, then the store queue's.

Numerics: integer accumulation wraps at int32 like the hardware (never reached by valid layers:
``|sum| < 2^31``); the ALU works in float32 with numpy's IEEE single-precision operations, one rounding
per operation (no fused multiply-add), which is what makes it bit-exact with the CPU kernels.
"""
from __future__ import annotations

from collections import deque
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import SepnetError
from ..targets.accelerator import BUFFERS, AcceleratorSpec
from .isa import ALU_OPS, BUFFER_IDS, Insn, decode_program

MATMUL_OVERHEAD = 7  # GEMM: issue, buffer read, two core stages, accumulate, write back, done
BGEMM_OVERHEAD = 8  # ... and the mask check
ALU_OVERHEAD = 10
LOAD_OVERHEAD = 3
STORE_OVERHEAD = 4
FETCH_DELAY = 2  # the first instruction reaches its queue dram_latency + 2 cycles after start
PORT_PRIORITY = {"compute": 0, "load": 1, "store": 2}  # who gets the data port first
_BUFFER_NAMES = {v: k for k, v in BUFFER_IDS.items()}
_ALU_NAMES = {v: k for k, v in ALU_OPS.items()}
_TOKENS = {("load", "next"): "l2c", ("compute", "prev"): "c2l", ("compute", "next"): "c2s", ("store", "prev"): "s2c"}
_UNITS = {"LOAD": "load", "STORE": "store", "GEMM": "gemm", "BGEMM": "bgemm", "ALU": "alu"}  # busy-cycle counters
_POPS = {("compute", "prev"): "l2c", ("load", "next"): "c2l", ("store", "prev"): "c2s", ("compute", "next"): "s2c"}


def _load_writes(bus: int, row: int, banks: int, elem: int, y: int, x: int, pads) -> list:
    """The DMA engine's writes of a LOAD in order, one per cycle (rtl/dma_load.sv): ``None`` for a padding
    write (up to ``banks`` zero rows, or one ``bus``-wide piece of a wider row), else (DRAM row, DRAM bytes
    of the memory beat it writes)."""
    pt, pb, pl, pr = pads
    pieces = max(1, row // bus)
    per = bus // row if banks > 1 else (0 if row > bus else 1)  # elements per beat (0: pieces per element)
    out: list = []

    def pad(n):
        out.extend([None] * (-(-n // banks) * pieces))

    for wy in range(pt + y + pb):
        if not pt <= wy < pt + y:
            pad(pl + x + pr)
            continue
        r = wy - pt
        pad(pl)
        if per:
            out.extend((r, min(per, x - e) * elem) for e in range(0, x, per))
        else:
            out.extend((r, max(0, min(bus, elem - p * bus))) for _ in range(x) for p in range(pieces))
        pad(pr)
    return out


@lru_cache(maxsize=1 << 16)
def load_timing(bus: int, row: int, banks: int, elem: int, y: int, x: int, pads: tuple, latency: int,
                bytes_per_cycle: float) -> int:
    """Cycles from a LOAD's start to its last buffer write + 1, as the RTL against the co-simulation's
    memory (rtl/sim/harness.cpp): the engine requests one DRAM row per cycle (at most 64 in flight);
    row ``k``'s data streams from ``latency`` cycles after its request or when row ``k - 1``'s ends,
    at most one beat per cycle and only while the byte credit (``bytes_per_cycle`` per streaming cycle,
    at most ``2 * bus + bytes_per_cycle``) covers the beat's DRAM bytes; the engine writes one padding
    write or one arrived beat per cycle, in order. So the first row's left padding is written during the
    latency, the last row's right padding after the last beat, and a beat waits for a padding write
    before it (equal to the RTL on 565 random LOADs, pynq-z2 and zcu104; tests/fpga/test_rtl_units.py)."""
    pt, pb, pl, pr = pads
    if y * x == 0:
        return (pt + y + pb) * -(-(pl + x + pr) // banks) * max(1, row // bus)
    writes = _load_writes(bus, row, banks, elem, y, x, pads)
    last = {}  # DRAM row -> index of its last write
    for i, w in enumerate(writes):
        if w is not None:
            last[w[0]] = i
    cap = 2.0 * bus + bytes_per_cycle
    accept, done = [], []  # per DRAM row: cycle its request was accepted, cycle after its last beat
    credit, t, i, cur = 0.0, 0, 0, 0
    while True:
        while len(accept) <= cur:  # row cur's request (rows before it are done)
            j = len(accept)
            accept.append(j if j < 64 else max(accept[j - 1] + 1, done[j - 64]))
        streaming = cur < y and t >= max(accept[cur] + latency, done[-1] if done else 0)
        credit = min(cap, credit + bytes_per_cycle) if streaming else 0.0
        w = writes[i]
        if w is None:
            i += 1
        elif streaming and credit + 1e-9 >= w[1]:
            credit -= w[1]
            if i == last[cur]:
                done.append(t + 1)
                cur += 1
            i += 1
        if i == len(writes):
            return t + 1
        t += 1


class SimulatorError(SepnetError):
    """An instruction out of bounds, a malformed program or a deadlock."""


class Device:
    """DRAM + buffers of one accelerator."""

    def __init__(self, spec: AcceleratorSpec, dram_bytes: int):
        self.spec = spec
        self.dram = np.zeros(int(dram_bytes), np.uint8)
        b_out, b_in, w = spec.block_out, spec.block_in, spec.words
        self.buf = {
            "inp": np.zeros((spec.rows("inp"), b_in), np.uint8),
            "wgt": np.zeros((spec.rows("wgt"), b_out, b_in), np.int8),
            "bin_inp": np.zeros((spec.rows("bin_inp"), spec.max_bits, w), np.uint64),
            "bin_wgt": np.zeros((spec.rows("bin_wgt"), b_out, w), np.uint64),
            "acc": np.zeros((spec.rows("acc"), b_out), np.int32),
            "param": np.zeros((spec.rows("param"), 2, b_out), np.float32),
        }
        assert set(self.buf) == set(BUFFERS)
        self._masks: dict = {}

    # --- functional semantics ---------------------------------------------------------------------
    def _rows_u8(self, name):
        b = self.buf[name]
        return b.reshape(b.shape[0], -1).view(np.uint8)

    def _check(self, cond, insn, what):
        if not cond:
            raise SimulatorError(f"{insn.op} {insn.args}: {what}")

    def _dram_view(self, insn, dram, y, x, stride, elem):
        self._check(y == 0 or x == 0 or dram + ((y - 1) * stride + x) * elem <= self.dram.size, insn,
                    f"DRAM access past {self.dram.size} bytes")
        return as_strided(self.dram[dram:], shape=(y, x, elem), strides=(stride * elem, elem, 1), writeable=True)

    def execute(self, insn: Insn) -> None:
        """Run one instruction on DRAM and the buffers."""
        op, a = insn.op, insn.args
        if op == "LOAD":
            name = _BUFFER_NAMES.get(a["buffer"])
            self._check(name is not None, insn, "unknown buffer")
            if name == "bin_inp":
                self._check(1 <= a["planes"] <= self.spec.max_bits, insn, f"planes must be 1..{self.spec.max_bits}")
            rows = self._rows_u8(name)
            elem = self.spec.elem_bytes(name, a["planes"])
            ys = a["pad_top"] + a["y_size"] + a["pad_bottom"]
            xs = a["pad_left"] + a["x_size"] + a["pad_right"]
            self._check(a["sram"] + ys * xs <= rows.shape[0], insn, f"past the {rows.shape[0]} rows of {name}")
            block = np.zeros((ys, xs, rows.shape[1]), np.uint8)
            src = self._dram_view(insn, a["dram"], a["y_size"], a["x_size"], a["x_stride"], elem)
            block[a["pad_top"]:a["pad_top"] + a["y_size"], a["pad_left"]:a["pad_left"] + a["x_size"], :elem] = src
            rows[a["sram"]:a["sram"] + ys * xs] = block.reshape(ys * xs, -1)
        elif op == "STORE":
            rows = self._rows_u8("acc")
            n = a["y_size"] * a["x_size"]
            self._check(a["sram"] + n <= rows.shape[0], insn, "past the acc rows")
            dst = self._dram_view(insn, a["dram"], a["y_size"], a["x_size"], a["x_stride"], rows.shape[1])
            dst[...] = rows[a["sram"]:a["sram"] + n].reshape(a["y_size"], a["x_size"], -1)
        elif op in ("GEMM", "BGEMM"):
            self._gemm(insn)
        elif op == "ALU":
            self._alu(insn)

    def _gemm(self, insn: Insn) -> None:
        a = insn.args
        acc = self.buf["acc"]
        yy, xx = np.meshgrid(np.arange(a["y_ext"]), np.arange(a["x_ext"]), indexing="ij")
        dst = (a["acc"] + yy * a["acc_y"] + xx * a["acc_x"]).ravel()
        self._check(dst.size == 0 or dst.max() < acc.shape[0], insn, "accumulator row out of range")
        if a["reset"]:
            self._check(insn.op == "GEMM", insn, "reset is a GEMM flag")
            acc[dst] = 0
            return
        kk = np.arange(a["k_ext"])
        src = (a["inp"] + yy[..., None] * a["inp_y"] + xx[..., None] * a["inp_x"] + kk * a["inp_k"]).reshape(dst.size, -1)
        wix = a["wgt"] + kk * a["wgt_k"]
        if insn.op == "GEMM":
            inp, wgt = self.buf["inp"], self.buf["wgt"]
            in_range = src.size == 0 or (src.max() < inp.shape[0] and wix.max() < wgt.shape[0])
            self._check(in_range, insn, "inp/wgt row out of range")
            x = (inp.view(np.int8) if a["signed"] else inp)[src].astype(np.int64)  # (P, K, block_in)
            part = np.einsum("pkc,koc->po", x, wgt[wix].astype(np.int64))
        else:
            part = self._bgemm(insn, src, wix, dst.size)
        total = acc[dst].astype(np.int64) + part
        if np.unique(dst).size != dst.size:
            total = acc.astype(np.int64)
            np.add.at(total, dst, part)
            acc[...] = total.astype(np.int32)  # two's-complement wrap, like the hardware
        else:
            acc[dst] = total.astype(np.int32)

    def _bgemm(self, insn: Insn, src: np.ndarray, wix: np.ndarray, n: int) -> np.ndarray:
        """``(n, block_out)`` partial sums of a BGEMM (isa docstring): bit-serial unsigned codes, or
        ±1 activations (``xnor``)."""
        a = insn.args
        inp, wgt = self.buf["bin_inp"], self.buf["bin_wgt"]
        bits = a["bits"]
        self._check(1 <= bits <= self.spec.max_bits, insn, f"bits must be 1..{self.spec.max_bits}")
        self._check(not a["xnor"] or bits == 1, insn, "xnor mode takes one sign-bit plane (bits = 1)")
        self._check(a["valid"] <= self.spec.bin_in, insn, f"valid must be 0..{self.spec.bin_in}")
        self._check(src.size == 0 or (src.max() < inp.shape[0] and wix.max() < wgt.shape[0]), insn, "bin row out of range")
        x = inp[src]  # (P, K, max_bits, words)
        w = wgt[wix]  # (K, block_out, words)
        mask = self._lane_masks(insn)
        if a["xnor"]:
            m = np.broadcast_to(self._all_lanes() if mask is None else mask, w.shape[1:])
            differ = np.bitwise_count((x[:, :, 0, None, :] ^ w[None]) & m).sum(axis=(1, 3), dtype=np.int64)
            return a["k_ext"] * np.bitwise_count(m).sum(axis=-1, dtype=np.int64) - 2 * differ
        part = np.zeros((n, self.spec.block_out), np.int64)
        if mask is not None:
            w = w & mask[None]
        for j in range(bits):
            plane = x[:, :, j, :]  # (P, K, words)
            ones_and = np.bitwise_count(plane[:, :, None, :] & w[None]).sum(axis=(1, 3), dtype=np.int64)
            if mask is None:
                ones = np.bitwise_count(plane).sum(axis=(1, 2), dtype=np.int64)[:, None]
            else:
                ones = np.bitwise_count(plane[:, :, None, :] & mask[None, None]).sum(axis=(1, 3), dtype=np.int64)
            part += (2 * ones_and - ones) << j
        return part

    def _all_lanes(self) -> np.ndarray:
        return np.full((self.spec.block_out, self.spec.words), np.uint64(~np.uint64(0)))

    def _lane_masks(self, insn: Insn):
        """(block_out, words) uint64 channel masks of a BGEMM's lanes, or None (every channel): the
        lane's group in a grouped row (``group_in``/``group_out``) and the row's first ``valid``
        channels; built once per (group_in, group_out, valid) (a layer issues one BGEMM per tap and tile)."""
        gi, go, valid = insn.args["group_in"], insn.args["group_out"], insn.args["valid"]
        if gi == 0 and valid == 0:
            return None
        self._check(gi == 0 or go > 0, insn, "group_out must be positive when group_in is")
        if (gi, go, valid) not in self._masks:
            self._masks[(gi, go, valid)] = self._build_masks(gi, go, valid)
        return self._masks[(gi, go, valid)]

    def _build_masks(self, gi: int, go: int, valid: int) -> np.ndarray:
        bin_in = self.spec.bin_in
        bits = np.zeros((self.spec.block_out, bin_in), np.uint8)
        for o in range(self.spec.block_out):  # ranges past the row are cut (lanes of padded outputs)
            lo, hi = ((o // go) * gi, (o // go + 1) * gi) if gi else (0, bin_in)
            bits[o, min(lo, bin_in):min(hi, bin_in)] = 1
        if valid:
            bits[:, valid:] = 0
        return np.packbits(bits, axis=-1, bitorder="little").view("<u8")

    def _alu(self, insn: Insn) -> None:
        a = insn.args
        acc = self.buf["acc"]
        op = _ALU_NAMES.get(a["op"])
        self._check(op is not None, insn, "unknown ALU op")
        n = a["rows"]
        self._check(a["dst"] + n <= acc.shape[0] and a["src"] + n <= acc.shape[0], insn, "acc rows out of range")
        accf = acc.view(np.float32)
        dst = slice(a["dst"], a["dst"] + n)
        with np.errstate(invalid="ignore", over="ignore"):
            if op == "affine":
                self._check(a["param"] < self.buf["param"].shape[0], insn, "param row out of range")
                s, off = self.buf["param"][a["param"]]
                v = acc[dst].astype(np.float32)
                accf[dst] = np.where(s != 0, (v + off) * s, off).astype(np.float32)
            elif op == "add":
                accf[dst] = accf[dst] + accf[a["src"]:a["src"] + n]
            elif op == "relu":
                accf[dst] = np.maximum(accf[dst], np.float32(0))
            elif op in ("min", "max"):
                accf[dst] = (np.minimum if op == "min" else np.maximum)(accf[dst], accf[a["src"]:a["src"] + n])
            else:
                acc[dst] = acc[dst] >> a["imm"]

    # --- cycle model --------------------------------------------------------------------------------
    def transfer_bytes(self, insn: Insn) -> int:
        """DRAM bytes a LOAD reads or a STORE writes (0 for other instructions)."""
        a = insn.args
        if insn.op == "LOAD":
            return a["y_size"] * a["x_size"] * self.spec.elem_bytes(_BUFFER_NAMES[a["buffer"]], a["planes"])
        if insn.op == "STORE":
            return a["y_size"] * a["x_size"] * self.spec.row_bytes("acc")
        return 0

    def macs(self, insn: Insn) -> int:
        """int8 MACs of a GEMM, bit-MACs (one activation bit x one sign) of a BGEMM, else 0."""
        a, spec = insn.args, self.spec
        if insn.op == "GEMM" and not a["reset"]:
            return a["y_ext"] * a["x_ext"] * a["k_ext"] * spec.block_in * spec.block_out
        if insn.op == "BGEMM":
            return a["y_ext"] * a["x_ext"] * a["k_ext"] * a["bits"] * spec.bin_in * spec.block_out
        return 0

    def cost(self, insn: Insn, mask_setup: int = 0) -> int:
        """Cycles of one instruction (module docstring); ``mask_setup``: the binary unit's mask rebuild
        before a BGEMM (:meth:`mask_setup`)."""
        a, spec = insn.args, self.spec
        if insn.op == "LOAD":
            return self.load_cycles(insn)
        if insn.op == "STORE":
            rows = a["y_size"] * a["x_size"]
            beats = rows * max(1, spec.row_bytes("acc") // spec.bus_bytes)
            return spec.dram_latency_cycles + max(self._stream_cycles(self.transfer_bytes(insn)), beats) + STORE_OVERHEAD
        if insn.op == "GEMM":
            return a["y_ext"] * a["x_ext"] * (1 if a["reset"] else a["k_ext"]) + MATMUL_OVERHEAD
        if insn.op == "BGEMM":
            return a["y_ext"] * a["x_ext"] * a["k_ext"] * a["bits"] + BGEMM_OVERHEAD + mask_setup
        if insn.op == "ALU":
            reads = 2 if _ALU_NAMES.get(a["op"]) in ("add", "min", "max") else 1
            segs = spec.block_out // spec.alu_lanes
            if a["rows"] == 0:
                return 3
            return (a["rows"] - 1) * max(segs, reads) + segs + ALU_OVERHEAD + reads - 1
        return 1

    def mask_setup(self, insn: Insn, previous_key) -> tuple[int, tuple]:
        """(cycles, key) of the binary unit's mask rebuild before a BGEMM, given the previous BGEMM's key."""
        a = insn.args
        key = (a["group_in"], a["group_out"], a["valid"])
        if key == previous_key:
            return 0, key
        return (1 if a["group_in"] == 0 else self.spec.block_out + 1), key

    def _stream_cycles(self, nbytes: int) -> int:
        return int(np.ceil(nbytes / self.spec.dram_bytes_per_cycle))

    def load_cycles(self, insn: Insn) -> int:
        """Cycles of a LOAD (module docstring): the engine's writes, one per cycle, against the memory
        stream (:func:`load_timing`), plus the engine's 3."""
        a, spec = insn.args, self.spec
        name = _BUFFER_NAMES[a["buffer"]]
        row, bus = spec.row_bytes(name), spec.bus_bytes
        banks = bus // row if name == "inp" and row < bus else 1  # rows one beat (or zero write) fills
        return load_timing(bus, row, banks, spec.elem_bytes(name, a["planes"]), a["y_size"], a["x_size"],
                           (a["pad_top"], a["pad_bottom"], a["pad_left"], a["pad_right"]),
                           spec.dram_latency_cycles, spec.dram_bytes_per_cycle) + LOAD_OVERHEAD

    def run(self, program, functional: bool = True, schedule: bool = False) -> dict:
        """Execute a program (a list of :class:`Insn` or encoded words); returns the cycle statistics
        (``functional=False``: the cycle model only, buffers untouched; what tuning measures):
        ``cycles`` (end of the last instruction), busy cycles per unit (``load``/``store`` DMA,
        ``gemm``, ``bgemm``, ``alu``), ``dram_read``/``dram_write`` bytes, ``macs``/``bit_macs``;
        ``schedule=True`` adds each instruction's (start, end) cycles (``schedule``, program order)."""
        insns = decode_program(program) if isinstance(program, np.ndarray) else list(program)
        queues = {q: deque() for q in ("load", "compute", "store")}
        for n, i in enumerate(insns):
            queues[i.queue].append((n, i))
        fifo = {t: deque() for t in ("l2c", "c2l", "c2s", "s2c")}
        free = {q: 0 for q in queues}
        dram_free = 0
        fetched = self.spec.dram_latency_cycles + FETCH_DELAY  # instruction n reaches its queue at fetched + n
        mask_key = None
        stats = {"cycles": 0, "load": 0, "store": 0, "gemm": 0, "bgemm": 0, "alu": 0,
                 "dram_read": 0, "dram_write": 0, "macs": 0, "bit_macs": 0, "instructions": len(insns)}
        times = [None] * len(insns)
        while any(queues.values()):
            best = None
            for q, insns_q in queues.items():
                if not insns_q:
                    continue
                n, insn = insns_q[0]
                start = max(free[q], fetched + n)
                ready = True
                for side in ("prev", "next"):
                    if getattr(insn, f"pop_{side}"):
                        tok = _POPS.get((q, side))
                        if tok is None:
                            raise SimulatorError(f"{insn.op} on the {q} queue cannot pop_{side}")
                        if not fifo[tok]:
                            ready = False
                        else:
                            start = max(start, fifo[tok][0])
                dma = insn.op in ("LOAD", "STORE")
                if dma:
                    start = max(start, dram_free)
                if ready and (best is None or (start, PORT_PRIORITY[q]) < (best[0], PORT_PRIORITY[best[1]])):
                    best = (start, q, n, insn, dma)
            if best is None:
                waiting = {q: f"{d[0][1].op} #{d[0][0]}" for q, d in queues.items() if d}
                raise SimulatorError(f"deadlock: every queue waits for a token that is never pushed ({waiting})")
            start, q, n, insn, dma = best
            queues[q].popleft()
            for side in ("prev", "next"):
                if getattr(insn, f"pop_{side}"):
                    fifo[_POPS[(q, side)]].popleft()
            if functional:
                self.execute(insn)
            setup = 0
            if insn.op == "BGEMM":
                setup, mask_key = self.mask_setup(insn, mask_key)
            end = start + self.cost(insn, setup)
            for side in ("prev", "next"):
                if getattr(insn, f"push_{side}"):
                    tok = _TOKENS.get((q, side))
                    if tok is None:
                        raise SimulatorError(f"{insn.op} on the {q} queue cannot push_{side}")
                    fifo[tok].append(end)
            free[q] = end
            if dma:
                dram_free = end
            unit = _UNITS.get(insn.op)
            if unit:
                stats[unit] += end - start
            stats["dram_read" if insn.op == "LOAD" else "dram_write"] += self.transfer_bytes(insn)
            stats["bit_macs" if insn.op == "BGEMM" else "macs"] += self.macs(insn)
            stats["cycles"] = max(stats["cycles"], end)
            times[n] = (start, end)
        if schedule:
            stats["schedule"] = times
        return stats
