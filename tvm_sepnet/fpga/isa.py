"""The accelerator's instructions and their 192-bit encoding.

Three queues run concurrently, VTA-style: **load** (LOAD into ``inp``/``wgt``/``bin_inp``/``bin_wgt``),
**compute** (GEMM, BGEMM, ALU, LOAD into ``acc``/``param``, FINISH) and **store** (STORE). An instruction
may wait for (pop) and signal (push) tokens on the dependency FIFOs between neighbouring queues:
``pop_prev``/``push_prev`` talk to the queue before it (load <- compute <- store), ``pop_next``/
``push_next`` to the queue after it (load -> compute -> store). A pop waits until a token pushed by
that neighbour is available.

Semantics (rows are buffer rows, see ``spec.AcceleratorSpec.row_bytes``; DRAM addresses in bytes):

- ``LOAD buffer sram dram y_size x_size x_stride pad_* planes``: writes ``(pad_top + y_size +
  pad_bottom) x (pad_left + x_size + pad_right)`` rows from ``sram`` on; row ``(y, x)`` of the padded
  block is DRAM element ``dram + ((y - pad_top) * x_stride + (x - pad_left)) * elem`` or zeros in the
  padding. ``elem`` is the buffer's row size, except ``bin_inp``: ``planes * bin_in / 8`` (an A-bit
  activation vector carries A bit-planes; the other planes of the row are zeroed). ``acc`` rows load
  float32 data (a residual), ``param`` rows ``(scale[block_out], offset[block_out])`` float32.
- ``STORE sram dram y_size x_size x_stride``: ``acc`` rows (float32) to DRAM, the same 2-D pattern.
- ``GEMM reset acc inp wgt y_ext x_ext k_ext acc_y acc_x inp_y inp_x inp_k wgt_k signed``: for every
  ``(y, x)``: ``a = acc + y*acc_y + x*acc_x``; ``reset``: ``acc[a] = 0``; else ``acc[a] +=
  sum_k wgt[wgt + k*wgt_k] @ inp[inp + y*inp_y + x*inp_x + k*inp_k]`` (int8 weights, inputs uint8 or
  int8 by ``signed``, int32 accumulation: exact).
- ``BGEMM`` (same fields, ``bits``, ``group_in``, ``group_out`` instead of ``signed``; no reset):
  ``acc[a][o] += sum_k sum_j 2^j * (2 * popcount(x_j & w_o & m_o) - popcount(x_j & m_o))`` over the ``bits``
  bit-planes ``x_j`` of the input row and the sign-bit row ``w_o`` (bit 1 = +1): the exact
  ``sum_c x_c * w_oc`` with ``w = ±1`` over the channels of mask ``m_o``. ``group_in = 0``: ``m_o`` is
  every channel; else the row holds several groups of a grouped conv and ``m_o`` is channels
  ``[(o // group_out) * group_in, (o // group_out + 1) * group_in)`` (the unit derives the mask from the
  two fields: grouped convs share the array without storing masks). ``valid`` (0: every channel)
  keeps only channels ``[0, valid)`` of each row in ``m_o`` (padded channel bits do not count).
  ``xnor = 1`` (±1 activations, ``bits`` must be 1): the input row holds one sign-bit plane, bit 1 =
  +1 like the weights, and ``acc[a][o] += sum_k (popcount(m_o) - 2 * popcount((x_0 ^ w_o) & m_o))``:
  the exact ``sum_c x_c * w_oc`` with ``x, w = ±1`` over the channels of ``m_o`` (each agreeing
  channel +1, each differing one -1).
- ``ALU op dst src rows param``: ``affine``: ``acc[dst + r] = where(s != 0, (f32(acc) + off) * s,
  off)`` with ``(s, off) = param[param]`` (int32 -> float32 bits, the integer epilogue of
  docs/numerics.md); ``add``: ``acc[dst + r] += acc[src + r]`` (float32); ``relu``: ``max(acc, 0)``
  (float32); ``min`` / ``max``: ``acc[dst + r] = min/max(acc[dst + r], acc[src + r])`` (float32);
  ``shr``: ``acc[dst + r] >>= imm`` (int32 arithmetic shift, the integer requantize step).
- ``FINISH``: the end of the program.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPCODES = {"LOAD": 0, "STORE": 1, "GEMM": 2, "BGEMM": 3, "ALU": 4, "FINISH": 5}
BUFFER_IDS = {"inp": 0, "wgt": 1, "bin_inp": 2, "bin_wgt": 3, "acc": 4, "param": 5}
ALU_OPS = {"affine": 0, "add": 1, "relu": 2, "min": 3, "max": 4, "shr": 5}
DEPS = ("pop_prev", "pop_next", "push_prev", "push_next")
WORDS = 3  # 192-bit instructions

_GEMM_FIELDS = [("reset", 1), ("acc", 16), ("inp", 16), ("wgt", 16), ("y_ext", 8), ("x_ext", 8), ("k_ext", 12),
                ("acc_y", 16), ("acc_x", 4), ("inp_y", 16), ("inp_x", 4), ("inp_k", 16), ("wgt_k", 16)]
FIELDS = {
    "LOAD": [("buffer", 3), ("sram", 16), ("dram", 32), ("y_size", 16), ("x_size", 16), ("x_stride", 16),
             ("pad_top", 4), ("pad_bottom", 4), ("pad_left", 4), ("pad_right", 4), ("planes", 4)],
    "STORE": [("sram", 16), ("dram", 32), ("y_size", 16), ("x_size", 16), ("x_stride", 16)],
    "GEMM": _GEMM_FIELDS + [("signed", 1)],
    "BGEMM": _GEMM_FIELDS + [("bits", 4), ("group_in", 8), ("group_out", 8), ("xnor", 1), ("valid", 9)],
    "ALU": [("op", 3), ("dst", 16), ("src", 16), ("rows", 16), ("param", 16), ("imm", 5)],
    "FINISH": [],
}


class EncodingError(ValueError):
    """A field value that does not fit its bits."""


@dataclass
class Insn:
    """One instruction: ``op`` (an OPCODES key), its fields, and its dependency flags."""

    op: str
    args: dict = field(default_factory=dict)
    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False

    def __post_init__(self):
        if self.op not in FIELDS:
            raise EncodingError(f"unknown instruction {self.op!r}")
        self.args = {name: int(self.args.get(name, 0)) for name, _ in FIELDS[self.op]} | \
            {k: v for k, v in self.args.items() if k not in dict(FIELDS[self.op])}

    def __getattr__(self, name):
        try:
            return self.__dict__["args"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def queue(self) -> str:
        if self.op == "LOAD":
            return "compute" if self.args["buffer"] in (BUFFER_IDS["acc"], BUFFER_IDS["param"]) else "load"
        return "store" if self.op == "STORE" else "compute"

    def encode(self) -> np.ndarray:
        """The instruction as ``WORDS`` little-endian uint64 words: opcode (3 bits), the four
        dependency flags, then the fields in ``FIELDS`` order, least significant first."""
        value, shift = OPCODES[self.op], 3
        for flag in DEPS:
            value |= int(bool(getattr(self, flag))) << shift
            shift += 1
        unknown = set(self.args) - {n for n, _ in FIELDS[self.op]}
        if unknown:
            raise EncodingError(f"{self.op}: unknown fields {sorted(unknown)}")
        for name, bits in FIELDS[self.op]:
            v = int(self.args.get(name, 0))
            if not 0 <= v < (1 << bits):
                raise EncodingError(f"{self.op}.{name} = {v} does not fit in {bits} bits")
            value |= v << shift
            shift += bits
        assert shift <= 64 * WORDS
        return np.array([(value >> (64 * i)) & ((1 << 64) - 1) for i in range(WORDS)], np.uint64)

    @staticmethod
    def decode(words) -> "Insn":
        value = sum(int(w) << (64 * i) for i, w in enumerate(words))
        code = value & 7
        ops = {v: k for k, v in OPCODES.items()}
        if code not in ops:
            raise EncodingError(f"unknown opcode {code}")
        op, shift = ops[code], 3
        flags = {}
        for flag in DEPS:
            flags[flag] = bool(value >> shift & 1)
            shift += 1
        args = {}
        for name, bits in FIELDS[op]:
            args[name] = value >> shift & ((1 << bits) - 1)
            shift += bits
        return Insn(op, args, **flags)


def encode_program(insns: list[Insn]) -> np.ndarray:
    """``(len, WORDS)`` uint64 array of a program."""
    return np.stack([i.encode() for i in insns]) if insns else np.zeros((0, WORDS), np.uint64)


def decode_program(words: np.ndarray) -> list[Insn]:
    return [Insn.decode(row) for row in np.asarray(words, np.uint64)]


def load(buffer: str, sram: int, dram: int, y_size: int, x_size: int, x_stride: int, pads=(0, 0, 0, 0), planes: int = 0,
         **deps) -> Insn:
    top, bottom, left, right = pads
    return Insn("LOAD", dict(buffer=BUFFER_IDS[buffer], sram=sram, dram=dram, y_size=y_size, x_size=x_size,
                             x_stride=x_stride, pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
                             planes=planes), **deps)


def store(sram: int, dram: int, y_size: int, x_size: int, x_stride: int, **deps) -> Insn:
    return Insn("STORE", dict(sram=sram, dram=dram, y_size=y_size, x_size=x_size, x_stride=x_stride), **deps)


def gemm(binary: bool, *, bits: int = 0, signed: int = 0, **fields) -> Insn:
    deps = {k: fields.pop(k) for k in DEPS if k in fields}
    extra = {"bits": bits} if binary else {"signed": signed}
    return Insn("BGEMM" if binary else "GEMM", {**fields, **extra}, **deps)


def alu(op: str, dst: int, rows: int, src: int = 0, param: int = 0, imm: int = 0, **deps) -> Insn:
    return Insn("ALU", dict(op=ALU_OPS[op], dst=dst, src=src, rows=rows, param=param, imm=imm), **deps)


def finish(**deps) -> Insn:
    return Insn("FINISH", {}, **deps)
