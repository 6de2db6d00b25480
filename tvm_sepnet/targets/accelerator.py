"""Accelerator description: a JSON preset -> :class:`AcceleratorSpec` with derived units and resources.

Units (all share one accumulator buffer whose rows are ``block_out`` int32 lanes):

- int8 GEMM core (VTA-style, BATCH = 1): per cycle one ``block_in`` int8/uint8 input vector times a
  ``block_out x block_in`` int8 weight block into ``block_out`` int32 accumulators (DSP blocks);
- binary GEMM unit: per cycle one bit-plane of a ``bin_in``-channel input vector against ``block_out``
  rows of ``bin_in`` sign bits (AND + popcount in LUTs); an A-bit activation takes A cycles (bit-serial);
- vector ALU: ``alu_lanes`` lanes for the epilogue (float32 affine requantize, residual add, ReLU,
  min/max; int32 arithmetic shift);
- buffers (bytes): ``inp``/``wgt`` (int8 core), ``bin_inp``/``bin_wgt`` (binary unit), ``acc``
  (int32 / float32 rows), ``param`` (per-channel scale/offset rows).

Resource model (issue 20: fitted to Yosys 0.23 ``synth_xilinx`` of the RTL in ``rtl/``, module by module;
figures and fit in docs/measurements.md; ``tvm-sepnet fpga-synth`` re-measures). The RTL's structure is
counted, with per-instance costs Yosys measured on each repeated lane:

- int8 GEMM core: ``block_out / 2`` lane pairs, each ``block_in`` DSP48s (two int8 MACs sharing the input
  byte per DSP) and 52 (7-series) / 64 (UltraScale+) LUTs and 3 / 33 FFs per input byte;
- binary unit: ``block_out`` lanes of 6 LUTs per channel of ``bin_in`` (AND / XNOR + two popcount trees)
  and 54 FFs;
- vector ALU: ``alu_lanes`` float32 lanes of 1,850 LUTs, 301 FFs and 2 DSP48s (the mantissa multiply);
- the rest (fetch, queues, DMA, accumulation, ALU row FIFO, control, LUT-RAM queues and param buffer):
  5,500 + 515 * ``block_out`` LUTs, 440 + 460 * ``block_out`` FFs and 4 DSP48s (within 5 % of the three
  presets' measurements);
- block RAM: the RTL's buffer memories (``buffer_memories``: banks and bus-wide column pieces), each a
  ``rows x bits`` array tiled by RAMB18s in the cheapest aspect ratio (512x36 simple dual port, 1Kx18,
  2Kx9, ...; the accumulator's true-dual-port banks lack 512x36); memories of at most 64 rows are LUT
  RAM (in the LUTs above). Counted in BRAM36 (two RAMB18). Nothing goes to URAM (Yosys maps a memory
  to URAM only when told to; the RTL does not ask).

A description whose LUTs, FFs (two per LUT on these parts), DSPs or BRAM36 exceed its part, or whose
buffers exceed the on-chip bytes, raises :class:`AcceleratorConfigError` naming what overflows.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

from ..errors import SepnetError

PRESET_DIR = os.path.join(os.path.dirname(__file__), "accelerator_presets")
BUFFERS = ("inp", "wgt", "bin_inp", "bin_wgt", "acc", "param")
DSP_PER_INT8_MAC = 0.5
DSP_PER_ALU_LANE = 2
LUT_PER_ALU_LANE = 1850
FF_PER_ALU_LANE = 301
#: LUTs / FFs of an int8 lane pair per input byte (block_in), per family
LUT_PER_PAIR_INPUT = {"xc7": 52, "xcup": 64}
FF_PER_PAIR_INPUT = {"xc7": 3, "xcup": 33}
LUT_PER_BIN_CHANNEL = 6  # per binary-unit lane and bin_in channel
FF_PER_BIN_LANE = 54
#: the rest of the design: base + per accumulator lane (block_out)
LUT_CONTROL, LUT_CONTROL_PER_LANE = 5500, 515
FF_CONTROL, FF_CONTROL_PER_LANE = 440, 460
DSP_CONTROL = 4
FF_PER_LUT = 2  # 7-series and UltraScale+ slices: 8 FFs per 4 LUT6
BRAM36_BYTES = 4608  # 36 Kb with parity: what the presets' bram_bytes count
LUTRAM_MAX_ROWS = 64
#: RAMB18 aspect ratios (rows, bits): simple dual port; true dual port lacks the 512x36 one
RAMB18_SDP = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
RAMB18_TDP = RAMB18_SDP[1:]


def ramb18(rows: int, bits: int, true_dual_port: bool = False) -> int:
    """RAMB18s of a ``rows x bits`` memory in the cheapest aspect ratio (0: LUT RAM, at most 64 rows)."""
    if rows <= LUTRAM_MAX_ROWS:
        return 0
    shapes = RAMB18_TDP if true_dual_port else RAMB18_SDP
    return min(math.ceil(rows / r) * math.ceil(bits / w) for r, w in shapes)


class AcceleratorConfigError(SepnetError):
    """An accelerator description that is malformed or does not fit its device."""


def known_presets() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(PRESET_DIR) if f.endswith(".json"))


@dataclass(frozen=True)
class AcceleratorSpec:
    name: str
    part: str
    clock_mhz: float
    luts: int
    dsps: int
    bram_bytes: int
    uram_bytes: int
    dram_gbps: float
    dram_latency_cycles: int
    block_in: int
    block_out: int
    bin_in: int
    max_bits: int
    alu_lanes: int
    buffers: dict

    # --- derived hardware -------------------------------------------------------------------------
    @property
    def words(self) -> int:
        """uint64 words per binary input vector (one bit-plane)."""
        return self.bin_in // 64

    def rows(self, buffer: str) -> int:
        """Rows of a buffer (its bytes / its row bytes)."""
        return self.buffers[buffer] // self.row_bytes(buffer)

    def row_bytes(self, buffer: str) -> int:
        return {"inp": self.block_in, "wgt": self.block_in * self.block_out,
                "bin_inp": self.max_bits * self.bin_in // 8, "bin_wgt": self.block_out * self.bin_in // 8,
                "acc": 4 * self.block_out, "param": 8 * self.block_out}[buffer]

    def elem_bytes(self, buffer: str, planes: int = 0) -> int:
        """Bytes of one DRAM element a LOAD brings into a row of ``buffer``: the row, except for
        ``bin_inp``, whose DRAM elements carry only the ``planes`` bit-planes of the layer's A bits."""
        return planes * self.bin_in // 8 if buffer == "bin_inp" else self.row_bytes(buffer)

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_gbps * 1e9 / (self.clock_mhz * 1e6)

    @property
    def bus_bytes(self) -> int:
        """Bytes per beat of the data port (the RTL's BUS_BYTES): the power of two at or above the
        DRAM bytes per cycle, at least 32 (one 24-byte instruction per beat)."""
        return max(32, 1 << math.ceil(math.log2(self.dram_bytes_per_cycle)))

    @property
    def int8_macs_per_cycle(self) -> int:
        return self.block_in * self.block_out

    @property
    def bit_macs_per_cycle(self) -> int:
        """Binary-unit bit-MACs (one activation bit x one weight sign) per cycle."""
        return self.bin_in * self.block_out

    @property
    def family(self) -> str:
        """``xc7`` (Zynq-7000 and other 7-series parts) or ``xcup`` (UltraScale+ figures for any other part)."""
        return "xc7" if self.part.lower().startswith("xc7") else "xcup"

    @property
    def ffs(self) -> int:
        """Flip-flops of the part: two per LUT."""
        return self.luts * FF_PER_LUT

    def buffer_memories(self) -> list[tuple[str, int, int, bool]]:
        """The RTL's buffer memories as (buffer, rows, bits, true dual port), one per bank and column piece:
        rows wider than the data-port beat split into beat-wide pieces, inp rows narrower than a beat into
        ``bus_bytes / block_in`` banks, the accumulator into two banks (rtl/row_buffer.sv, acc_buffer.sv)."""
        out = []
        for b in BUFFERS:
            row, rows = self.row_bytes(b), self.rows(b)
            pieces = max(1, row // self.bus_bytes)
            banks = 2 if b == "acc" else (self.bus_bytes // row if b == "inp" and row < self.bus_bytes else 1)
            out += [(b, rows // banks, min(row, self.bus_bytes) * 8, b == "acc")] * (banks * pieces)
        return out

    def bram36(self) -> float:
        """BRAM36 of the buffers (module docstring: RAMB18 tiles in the cheapest aspect ratio, two per BRAM36)."""
        return sum(ramb18(rows, bits, tdp) for _, rows, bits, tdp in self.buffer_memories()) / 2

    def resources(self) -> dict:
        """Use (the module's resource model) and budget of LUTs, FFs, DSPs, BRAM36 and on-chip bytes."""
        pairs, fam = self.block_out // 2, self.family
        luts = (LUT_CONTROL + LUT_CONTROL_PER_LANE * self.block_out + pairs * LUT_PER_PAIR_INPUT[fam] * self.block_in
                + self.block_out * LUT_PER_BIN_CHANNEL * self.bin_in + self.alu_lanes * LUT_PER_ALU_LANE)
        ffs = (FF_CONTROL + FF_CONTROL_PER_LANE * self.block_out + pairs * FF_PER_PAIR_INPUT[fam] * self.block_in
               + self.block_out * FF_PER_BIN_LANE + self.alu_lanes * FF_PER_ALU_LANE)
        dsps = self.block_in * self.block_out * DSP_PER_INT8_MAC + self.alu_lanes * DSP_PER_ALU_LANE + DSP_CONTROL
        return {"luts": (int(luts), self.luts), "ffs": (int(ffs), self.ffs), "dsps": (int(dsps), self.dsps),
                "bram36": (self.bram36(), self.bram_bytes // BRAM36_BYTES),
                "on_chip_bytes": (sum(self.buffers.values()), self.bram_bytes + self.uram_bytes)}

    def free_on_chip_bytes(self) -> int:
        """BRAM/URAM bytes left after the buffers (where resident weights could live)."""
        return self.bram_bytes + self.uram_bytes - sum(self.buffers.values())

    def description(self) -> dict:
        """The full description as JSON-able data: what programs compiled for it depend on (an
        artifact and a board match when these are equal, whatever file they came from)."""
        return asdict(self)

    def validate(self) -> "AcceleratorSpec":
        def need(cond, what):
            if not cond:
                raise AcceleratorConfigError(f"accelerator {self.name!r}: {what}")

        for key in ("clock_mhz", "luts", "dsps", "dram_gbps", "alu_lanes", "block_in", "block_out", "bin_in", "max_bits"):
            need(getattr(self, key) > 0, f"{key} must be positive, got {getattr(self, key)}")
        need(self.bram_bytes >= 0 and self.uram_bytes >= 0, "negative BRAM/URAM bytes")
        for b in BUFFERS:
            need(b in self.buffers, f"buffer {b!r} is missing (buffers: {', '.join(BUFFERS)})")
            need(self.buffers[b] > 0, f"buffer {b!r} has {self.buffers[b]} bytes: every buffer needs at least one row")
            need(self.buffers[b] >= self.row_bytes(b),
                 f"buffer {b!r} has {self.buffers[b]} bytes, less than one row ({self.row_bytes(b)} bytes)")
        need(self.bin_in % 64 == 0, f"bin_in must be a multiple of 64 (packed uint64 words), got {self.bin_in}")
        need(self.max_bits <= 8, f"max_bits must be <= 8, got {self.max_bits}")
        need(self.alu_lanes <= self.block_out and self.block_out % self.alu_lanes == 0,
             f"alu_lanes ({self.alu_lanes}) must divide block_out ({self.block_out})")
        res = self.resources()
        for key, unit in (("dsps", "DSP blocks"), ("luts", "LUTs"), ("ffs", "flip-flops"),
                          ("on_chip_bytes", "on-chip memory bytes"), ("bram36", "BRAM36 (buffer memories)")):
            used, budget = res[key]
            need(used <= budget, f"needs {used:,} {unit} but {self.part} has {budget:,} "
                                 f"(gemm {self.block_in}x{self.block_out}, binary {self.bin_in}x{self.block_out}, "
                                 f"{self.alu_lanes} ALU lanes, buffers {sum(self.buffers.values()):,} B): "
                                 "make the cores or buffers smaller")
        return self


def spec_from_dict(d: dict) -> AcceleratorSpec:
    try:
        spec = AcceleratorSpec(
            name=str(d["name"]), part=str(d.get("part", d["name"])), clock_mhz=float(d["clock_mhz"]),
            luts=int(d["luts"]), dsps=int(d["dsps"]), bram_bytes=int(d["bram_bytes"]), uram_bytes=int(d.get("uram_bytes", 0)),
            dram_gbps=float(d["dram_gbps"]), dram_latency_cycles=int(d.get("dram_latency_cycles", 50)),
            block_in=int(d["gemm"]["block_in"]), block_out=int(d["gemm"]["block_out"]),
            bin_in=int(d["binary"]["bin_in"]), max_bits=int(d["binary"].get("max_bits", 8)),
            alu_lanes=int(d["alu_lanes"]), buffers={k: int(v) for k, v in d["buffers"].items()})
    except KeyError as err:
        raise AcceleratorConfigError(f"accelerator description {d.get('name', '?')!r} lacks field {err}") from None
    except (TypeError, ValueError) as err:
        raise AcceleratorConfigError(f"accelerator description {d.get('name', '?')!r}: {err}") from None
    return spec.validate()


def load_spec(name_or_path: str) -> AcceleratorSpec:
    """A preset name (``known_presets()``) or the path of a JSON description."""
    path = name_or_path if name_or_path.endswith(".json") else os.path.join(PRESET_DIR, f"{name_or_path}.json")
    if not os.path.isfile(path):
        raise AcceleratorConfigError(f"unknown accelerator {name_or_path!r}: presets {', '.join(known_presets())}, "
                                     "or the path of a JSON description")
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as err:
            raise AcceleratorConfigError(f"{path}: not valid JSON ({err})") from None
    return spec_from_dict(d)
