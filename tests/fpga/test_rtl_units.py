"""Each unit of the accelerator's RTL under Verilator against the Python simulator, on random inputs:
short programs that exercise one unit (the DMA with padding and strides into every buffer, the int8
GEMM core, the binary unit's popcount trees and XNOR mode, every ALU op, the queues' dependency
tokens) run on both, and the DRAM they leave must be equal byte for byte.

The RTL is built once per session for the pynq-z2 description (fixture ``rtl_pynq``; the build is
cached across sessions, see tvm_sepnet/fpga/cosim.py)."""
import numpy as np
import pytest

from tvm_sepnet.fpga import isa
from tvm_sepnet.fpga.cosim import CosimError, RtlDevice
from tvm_sepnet.fpga.simulator import Device
from tvm_sepnet.targets.accelerator import BUFFERS as BUFFER_NAMES

DRAM = 1 << 16
OUT = 1 << 15  # programs store their results from here on


def run_both(spec, prog, dram):
    """Run ``prog`` on the simulator and the RTL from the same DRAM; both DRAMs must match."""
    sim, rtl = Device(spec, dram.size), RtlDevice(spec, dram.size)
    sim.dram[:] = dram
    rtl.dram[:] = dram
    model, got = sim.run(prog), rtl.run(prog)
    bad = np.nonzero(sim.dram != rtl.dram)[0]
    assert bad.size == 0, f"{bad.size} DRAM bytes differ, first at {bad[:8]}"
    return model, got


def chain(*groups):
    """Instructions of the load, compute and store queues in order, each group handing a token to the next."""
    prog = []
    for k, group in enumerate(groups):
        for i, insn in enumerate(group):
            if k > 0 and i == 0:
                insn.pop_prev = True
            if k < len(groups) - 1 and i == len(group) - 1:
                insn.push_next = True
            prog.append(insn)
    return prog + [isa.finish()]


def fill(buffer, rows, dram_at=0, **kw):
    """A LOAD of ``rows`` rows from DRAM, so that every buffer row a test reads holds data the program
    wrote (the RTL keeps its buffers across runs, the simulator starts from zeros)."""
    return isa.load(buffer, 0, dram_at, 1, rows, rows, **kw)


def store_rows(n, **deps):
    return isa.store(0, OUT, 1, n, n, **deps)


@pytest.fixture
def dram(rng):
    return rng.integers(0, 256, DRAM, dtype=np.uint8)


def test_dma_padding_and_strides_into_acc(rtl_pynq, rng, dram):
    """LOAD acc: random 2-D blocks with padding on every side and a row stride, stored back whole."""
    spec = rtl_pynq
    for _ in range(4):
        y, x = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        pads = tuple(int(p) for p in rng.integers(0, 3, 4))
        rows = (pads[0] + y + pads[1]) * (pads[2] + x + pads[3])
        stride = x + int(rng.integers(0, 4))
        src = int(rng.integers(0, 64)) * 64
        prog = [isa.load("acc", 3, src, y, x, stride, pads=pads, push_next=True),
                isa.store(3, OUT, 1, rows, rows, pop_prev=True), isa.finish()]
        run_both(spec, prog, dram)


def test_load_cycles_equal_the_rtl(rtl_pynq, rng, dram):
    """The cycle model's LOAD durations (simulator.load_timing) against the RTL's, cycle for cycle, on
    random LOADs into every buffer: padding on any side, bit-plane counts, more DRAM rows than requests
    in flight."""
    spec = rtl_pynq
    rtl = RtlDevice(spec, dram.size)
    rtl.dram[:] = dram
    shapes = [(b, int(rng.integers(0, 12)), int(rng.integers(1, 12))) for b in BUFFER_NAMES for _ in range(5)]
    shapes += [("acc", 100, 1), ("inp", 90, 2), ("bin_inp", 70, 1)]
    for buf, y, x in shapes:
        pads = tuple(int(p) for p in rng.integers(0, 3, 4))
        if (pads[0] + y + pads[1]) * (pads[2] + x + pads[3]) > spec.rows(buf):
            pads = (0, 0, 0, 0)
        kw = {"planes": int(rng.integers(1, spec.max_bits + 1))} if buf == "bin_inp" else {}
        prog = [isa.load(buf, 0, 0, y, x, x, pads=pads, **kw), isa.finish()]
        ms, me = Device(spec, 0).run(prog, functional=False, schedule=True)["schedule"][0]
        rs, re = rtl.run(prog)["schedule"][0]
        assert me - ms == re - rs, (buf, y, x, pads, kw)


@pytest.mark.parametrize("signed", [0, 1])
def test_gemm_core_with_padded_strided_inputs(rtl_pynq, rng, dram, signed):
    """LOADs into the banked inp buffer (padding, strides, unaligned start rows) and the wgt buffer
    (rows wider than a memory beat), GEMMs over y, x, k with strides, accumulated onto a reset."""
    spec = rtl_pynq
    for _ in range(3):
        y, x = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        pads = tuple(int(p) for p in rng.integers(0, 2, 4))
        k = int(rng.integers(1, 4))
        loads = [fill("inp", 160), fill("wgt", 12, 4096),
                 isa.load("inp", int(rng.integers(0, 5)), int(rng.integers(0, 200)) * 16, y + 1, x + 2, x + 3, pads=pads),
                 isa.load("wgt", 2, 8192 + int(rng.integers(0, 8)) * 256, 1, 6, 6)]
        f = dict(y_ext=y, x_ext=x, k_ext=k, acc_y=x, acc_x=1, inp_y=int(rng.integers(1, 8)), inp_x=int(rng.integers(0, 3)),
                 inp_k=int(rng.integers(1, 5)), wgt_k=int(rng.integers(1, 3)))
        comp = [isa.gemm(False, reset=1, acc=7, **f),
                isa.gemm(False, acc=7, inp=int(rng.integers(0, 3)), wgt=2, signed=signed, **f),
                isa.gemm(False, acc=7, inp=int(rng.integers(0, 3)), wgt=3, signed=signed, **f)]
        run_both(spec, chain(loads, comp, [isa.store(7, OUT, y, x, x)]), dram)


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_popcount_trees_of_the_binary_unit(rtl_pynq, rng, dram, bits):
    """BGEMM on random bit-planes (a `planes`-plane LOAD zeroes the other planes of the row), dense and
    grouped rows, with and without a valid-channel count: 2 popcount(x & w & m) - popcount(x & m) per plane."""
    spec = rtl_pynq
    for group_in, group_out, valid in [(0, 0, 0), (16, 4, 0), (24, 8, 50), (0, 0, 37)]:
        dram[:4096] = rng.integers(0, 256, 4096, dtype=np.uint8)
        loads = [fill("bin_inp", 30, 4096, planes=8), fill("bin_wgt", 4, 12288),
                 isa.load("bin_inp", 1, 0, 3, 4, 4, pads=(1, 0, 1, 1), planes=bits),
                 isa.load("bin_wgt", 0, 8192, 1, 3, 3)]
        f = dict(y_ext=2, x_ext=3, k_ext=2, acc_y=3, acc_x=1, inp_y=6, inp_x=1, inp_k=7, wgt_k=1)
        comp = [isa.gemm(False, reset=1, acc=0, **f),
                isa.gemm(True, bits=bits, acc=0, inp=0, wgt=1, group_in=group_in, group_out=group_out, valid=valid, **f)]
        run_both(spec, chain(loads, comp, [store_rows(6)]), dram)


def test_xnor_mode(rtl_pynq, rng, dram):
    """BGEMM XNOR mode (±1 activations): K - 2 popcount(x ^ w) over the valid (and group) channels."""
    spec = rtl_pynq
    for group_in, group_out, valid in [(0, 0, 0), (0, 0, 45), (32, 8, 0), (20, 4, 61)]:
        dram[:2048] = rng.integers(0, 256, 2048, dtype=np.uint8)
        loads = [fill("bin_inp", 16, 4096, planes=8), fill("bin_wgt", 4, 12288),
                 isa.load("bin_inp", 0, 0, 2, 5, 5, planes=1), isa.load("bin_wgt", 0, 8192, 1, 2, 2)]
        f = dict(y_ext=2, x_ext=4, k_ext=2, acc_y=4, acc_x=1, inp_y=5, inp_x=1, inp_k=1, wgt_k=1)
        comp = [isa.gemm(False, reset=1, acc=10, **f),
                isa.gemm(True, bits=1, xnor=1, acc=10, inp=0, wgt=0, group_in=group_in, group_out=group_out, valid=valid, **f)]
        run_both(spec, chain(loads, comp, [isa.store(10, OUT, 1, 8, 8)]), dram)


def _float_rows(rng, n):
    """float32 bit patterns: ordinary values, near-cancelling pairs, subnormals, zeros, inf, NaN."""
    vals = (rng.standard_normal(n) * 50).astype(np.float32).view(np.uint32)
    kind = rng.integers(0, 8, n)
    special = rng.choice(np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 1, 0x807FFFFF,
                                   0x00800000, 0x7F7FFFFF], np.uint32), n)
    vals = np.where(kind == 0, special, vals)
    vals = np.where(kind == 1, rng.integers(0, 1 << 23, n).astype(np.uint32), vals)  # subnormals
    return vals


@pytest.mark.parametrize("op", ["affine", "add", "relu", "min", "max", "shr"])
def test_alu_ops_bit_exact(rtl_pynq, rng, dram, op):
    """Each ALU op over 48 rows of random float32 (or int32) lanes, with zero / -0 / NaN scales for
    the affine epilogue; the float32 results must match numpy's bit for bit."""
    spec = rtl_pynq
    lanes = spec.block_out
    a = _float_rows(rng, 48 * lanes)
    if op in ("affine", "shr"):
        a = rng.integers(-(1 << 31), 1 << 31, 48 * lanes, dtype=np.int64).astype(np.int32).view(np.uint32)
        a[::7] = rng.integers(-3000, 3000, a[::7].size).astype(np.int32).view(np.uint32)
    b = _float_rows(rng, 48 * lanes)
    b[::5] = a[::5] ^ np.uint32(0x80000000)  # x + (-x)
    scale = rng.uniform(-0.05, 0.05, lanes).astype(np.float32)
    scale[:4] = np.array([0.0, -0.0, np.nan, 1e-39], np.float32)
    offset = _float_rows(rng, lanes).view(np.float32)
    dram[0:a.nbytes] = a.view(np.uint8)
    dram[8192:8192 + b.nbytes] = b.view(np.uint8)
    dram[16384:16384 + 8 * lanes] = np.concatenate([scale, offset]).view(np.uint8)
    comp = [isa.load("acc", 0, 0, 1, 48, 48), isa.load("acc", 100, 8192, 1, 48, 48), isa.load("param", 3, 16384, 1, 1, 1),
            isa.alu(op, 0, 48, src=100, param=3, imm=int(rng.integers(0, 32)))]
    prog = chain(comp, [isa.store(0, OUT, 1, 48, 48)])
    run_both(spec, prog, dram)


def _pipeline(tiles):
    """tiles x (load, gemm, store) over two buffer slots with VTA's tokens (as the compiler emits)."""
    prog = [fill("wgt", 2, 1 << 17)]
    for t in range(tiles):
        slot = t % 2
        prog.append(isa.load("inp", slot * 512, t * 8192, 1, 512, 512, pop_next=t >= 2, push_next=True))
        prog.append(isa.gemm(False, reset=1, acc=slot * 256, y_ext=1, x_ext=200, acc_x=1, pop_prev=True, pop_next=t >= 2))
        prog.append(isa.gemm(False, acc=slot * 256, inp=slot * 512, y_ext=1, x_ext=200, k_ext=2, acc_x=1, inp_x=1,
                             inp_k=256, push_prev=True))
        prog.append(isa.alu("relu", slot * 256, 200, push_next=True))
        prog.append(isa.store(slot * 256, (1 << 16) + t * 200 * 64, 1, 200, 200, pop_prev=True, push_prev=True))
    return prog + [isa.finish()]


def test_queue_tokens_overlap_tiles_and_keep_order(rtl_pynq, rng):
    """Six double-buffered tiles: results equal the simulator's (a token honoured late or early would
    compute on the wrong slot), and the queues overlap: loads of tile i+1 run while tile i computes."""
    spec = rtl_pynq
    dram = rng.integers(0, 256, 3 << 16, dtype=np.uint8)  # inputs below 64 KiB, outputs above
    prog = _pipeline(6)
    model, got = run_both(spec, prog, dram)
    sched = got["schedule"]
    serial = sum(e - s for s, e in sched)
    assert got["cycles"] < 0.8 * serial
    loads = [i for i, insn in enumerate(prog) if insn.op == "LOAD"][1:]  # after the weights
    gemms = [i for i, insn in enumerate(prog) if insn.op == "GEMM" and not insn.reset]
    assert sched[loads[1]][0] < sched[gemms[0]][1]  # tile 1 loads while tile 0 computes
    assert sched[loads[2]][0] >= sched[gemms[0]][1]  # ... but tile 2 waits for slot 0 (token compute -> load)
    assert got["cycles"] == model["cycles"]


def test_a_token_never_pushed_stops_with_a_message(rtl_pynq):
    prog = [isa.load("inp", 0, 0, 1, 1, 1), isa.gemm(False, y_ext=1, x_ext=1, k_ext=1, pop_prev=True), isa.finish()]
    with pytest.raises(CosimError, match="did not finish within 2000 cycles"):
        RtlDevice(rtl_pynq, 4096).run(prog, max_cycles=2000)
