"""Each instruction of the simulator against numpy, the queues' dependency tokens (overlap, deadlock)
and bounds checks."""
import numpy as np
import pytest

from schedules.common import integer_epilogue_np
from tvm_sepnet.fpga import isa
from tvm_sepnet.fpga.simulator import Device, SimulatorError
from tvm_sepnet.targets.accelerator import load_spec

SPEC = load_spec("pynq-z2")  # block 16x16, bin_in 64


def _dev(dram=1 << 16):
    return Device(SPEC, dram)


def test_load_strided_block_with_padding():
    dev = _dev()
    src = np.arange(5 * 7 * 16, dtype=np.uint8).reshape(5, 7, 16)  # (H, W, block_in) rows
    dev.dram[100:100 + src.size] = src.ravel()
    dev.buf["inp"][:] = 99
    # rows 1..3, columns 2..5 of the image, padded (top 1, bottom 2, left 1, right 0)
    dram = 100 + (1 * 7 + 2) * 16
    dev.execute(isa.load("inp", 10, dram, 3, 4, 7, pads=(1, 2, 1, 0)))
    got = dev.buf["inp"][10:10 + 6 * 5].reshape(6, 5, 16)
    expected = np.zeros((6, 5, 16), np.uint8)
    expected[1:4, 1:5] = src[1:4, 2:6]
    np.testing.assert_array_equal(got, expected)
    assert dev.buf["inp"][9, 0] == 99 and dev.buf["inp"][40, 0] == 99  # nothing outside the block is written


def test_load_binary_planes_zeroes_the_rest_and_store_float_rows():
    dev = _dev()
    words = np.arange(1, 2 * 3 + 1, dtype=np.uint64).reshape(2, 3, 1)  # 2 pixels x 3 planes x 1 word
    dev.dram[:words.nbytes] = words.view(np.uint8).ravel()
    dev.buf["bin_inp"][:] = np.uint64(7)
    dev.execute(isa.load("bin_inp", 4, 0, 1, 2, 2, planes=3))
    np.testing.assert_array_equal(dev.buf["bin_inp"][4:6, :3], words)
    assert not dev.buf["bin_inp"][4:6, 3:].any()
    vals = np.arange(3 * 16, dtype=np.float32).reshape(3, 16) - 7.5
    dev.buf["acc"].view(np.float32)[20:23] = vals
    dev.execute(isa.store(20, 1024, 3, 1, 2))  # rows to every other DRAM row
    out = dev.dram[1024:1024 + 6 * 64].view(np.float32).reshape(6, 16)
    np.testing.assert_array_equal(out[0::2], vals)


@pytest.mark.parametrize("signed", [0, 1])
def test_gemm_matches_integer_matmul(signed):
    rng = np.random.default_rng(signed)
    dev = _dev()
    dev.buf["inp"][:64] = rng.integers(0, 256, (64, 16), dtype=np.uint8)
    dev.buf["wgt"][:4] = rng.integers(-127, 128, (4, 16, 16), dtype=np.int8)
    dev.buf["acc"][:] = 5
    f = dict(y_ext=3, x_ext=4, k_ext=2, acc_y=4, acc_x=1, inp_y=8, inp_x=2, inp_k=30, wgt_k=2)
    dev.execute(isa.gemm(False, reset=1, acc=100, **f))
    dev.execute(isa.gemm(False, acc=100, inp=1, wgt=1, signed=signed, **f))
    x = (dev.buf["inp"].view(np.int8) if signed else dev.buf["inp"]).astype(np.int64)
    for y in range(3):
        for xx in range(4):
            exp = sum(dev.buf["wgt"][1 + 2 * k].astype(np.int64) @ x[1 + y * 8 + xx * 2 + 30 * k] for k in range(2))
            np.testing.assert_array_equal(dev.buf["acc"][100 + 4 * y + xx], exp)
    assert dev.buf["acc"][99, 0] == 5 and dev.buf["acc"][112, 0] == 5


@pytest.mark.parametrize("group_in,group_out", [(0, 0), (16, 4), (24, 8)])
def test_bgemm_is_the_signed_dot_product_of_codes(group_in, group_out):
    """2 * popcount(x_j & w) - popcount(x_j & m) over bit-planes = sum_c code_c * (±1)_c over the
    mask's channels (all of them, or the lane's group in a grouped row)."""
    rng = np.random.default_rng(group_in)
    bits = 3
    dev = _dev()
    codes = rng.integers(0, 1 << bits, (6, 64))
    signs = rng.choice([-1, 1], (2, 16, 64))
    planes = ((codes[:, None, :] >> np.arange(bits)[:, None]) & 1).astype(np.uint8)
    dev.buf["bin_inp"][:6, :bits] = np.packbits(planes, axis=-1, bitorder="little").view("<u8")
    dev.buf["bin_wgt"][:2] = np.packbits(signs > 0, axis=-1, bitorder="little").view("<u8")
    dev.buf["acc"][:3] = 0
    dev.execute(isa.gemm(True, bits=bits, acc=0, inp=0, wgt=0, y_ext=1, x_ext=3, k_ext=2, acc_x=1, inp_x=2, inp_k=1,
                         wgt_k=1, group_in=group_in, group_out=group_out))
    mask = np.ones((16, 64), bool)
    if group_in:
        mask[:] = False
        for o in range(16):
            mask[o, (o // group_out) * group_in:min(64, (o // group_out + 1) * group_in)] = True
    for p in range(3):
        exp = sum(((signs[k] * mask) @ codes[2 * p + k]) for k in range(2))
        np.testing.assert_array_equal(dev.buf["acc"][p], exp)


def xnor_brute_force(x_bits, w_bits, valid, group_in, group_out):
    """sum_c x_c * w_oc with x, w = ±1 (bit 1 = +1) over channel c < valid (0: all) of lane o's group,
    by loops over channels: ``x_bits`` (K, C) 0/1, ``w_bits`` (K, O, C) 0/1 -> (O,) int."""
    k_n, o_n, c_n = w_bits.shape
    out = np.zeros(o_n, np.int64)
    for o in range(o_n):
        for k in range(k_n):
            for c in range(valid or c_n):
                if group_in and not (o // group_out) * group_in <= c < (o // group_out + 1) * group_in:
                    continue
                out[o] += 1 if x_bits[k, c] == w_bits[k, o, c] else -1
    return out


@pytest.mark.parametrize("valid,group_in,group_out", [(0, 0, 0), (37, 0, 0), (64, 0, 0), (50, 16, 4), (0, 24, 8)])
def test_bgemm_xnor_is_the_dot_product_of_signs(valid, group_in, group_out):
    """XNOR mode: K - 2 * popcount(x ^ w) over the valid (and group) channels of each row, accumulated
    over k, against loops over channels; padded channel bits (past ``valid``) do not count."""
    rng = np.random.default_rng(valid + group_in)
    dev = _dev()
    x_bits = rng.integers(0, 2, (6, 64)).astype(np.uint8)
    w_bits = rng.integers(0, 2, (2, 16, 64)).astype(np.uint8)
    dev.buf["bin_inp"][:] = np.uint64(0xFFFF)  # stale planes 1.. must not count
    dev.buf["bin_inp"][:6, 0] = np.packbits(x_bits, axis=-1, bitorder="little").view("<u8")
    dev.buf["bin_wgt"][:2] = np.packbits(w_bits, axis=-1, bitorder="little").view("<u8")
    dev.buf["acc"][:3] = 7
    dev.execute(isa.gemm(True, bits=1, acc=0, inp=0, wgt=0, y_ext=1, x_ext=3, k_ext=2, acc_x=1, inp_x=2, inp_k=1,
                         wgt_k=1, group_in=group_in, group_out=group_out, xnor=1, valid=valid))
    for p in range(3):
        exp = 7 + xnor_brute_force(x_bits[2 * p:2 * p + 2], w_bits, valid, group_in, group_out)
        np.testing.assert_array_equal(dev.buf["acc"][p], exp)
    assert dev.cost(isa.gemm(True, bits=1, xnor=1, y_ext=1, x_ext=3, k_ext=2)) == 6 + 8  # one cycle per (y, x, k)


def test_bgemm_valid_drops_padded_channels_of_unsigned_codes():
    rng = np.random.default_rng(11)
    dev = _dev()
    codes = rng.integers(0, 4, (1, 64))
    signs = rng.choice([-1, 1], (1, 16, 64))
    planes = ((codes[:, None, :] >> np.arange(2)[:, None]) & 1).astype(np.uint8)
    dev.buf["bin_inp"][:1, :2] = np.packbits(planes, axis=-1, bitorder="little").view("<u8")
    dev.buf["bin_wgt"][:1] = np.packbits(signs > 0, axis=-1, bitorder="little").view("<u8")
    dev.buf["acc"][:1] = 0
    dev.execute(isa.gemm(True, bits=2, y_ext=1, x_ext=1, k_ext=1, valid=40))
    np.testing.assert_array_equal(dev.buf["acc"][0], signs[0][:, :40] @ codes[0, :40])
    with pytest.raises(SimulatorError, match="xnor mode takes one sign-bit plane"):
        dev.execute(isa.gemm(True, bits=2, y_ext=1, x_ext=1, k_ext=1, xnor=1))
    with pytest.raises(SimulatorError, match="valid must be 0..64"):
        dev.execute(isa.gemm(True, bits=1, y_ext=1, x_ext=1, k_ext=1, valid=65))


def test_alu_affine_add_relu_match_the_integer_epilogue():
    rng = np.random.default_rng(3)
    dev = _dev()
    acc = rng.integers(-5000, 5000, (4, 16)).astype(np.int32)
    res = rng.standard_normal((4, 16)).astype(np.float32) * 20
    scale = rng.uniform(1e-3, 1e-2, 16).astype(np.float32)
    scale[3] = 0
    offset = rng.uniform(-30, 30, 16).astype(np.float32)
    dev.buf["acc"][8:12] = acc
    dev.buf["acc"].view(np.float32)[20:24] = res
    dev.buf["param"][1] = (scale, offset)
    for insn in (isa.alu("affine", 8, 4, param=1), isa.alu("add", 8, 4, src=20), isa.alu("relu", 8, 4)):
        dev.execute(insn)
    expected = integer_epilogue_np(acc.T[None, :, :, None], scale, offset, True, res.T[None, :, :, None])
    np.testing.assert_array_equal(dev.buf["acc"].view(np.float32)[8:12], expected[0, :, :, 0].T)


def _pipeline(tiles, tokens=True):
    """tiles x (load, gemm, store) with VTA-style tokens over two slots."""
    prog = []
    for t in range(tiles):
        slot = t % 2
        prog.append(isa.load("inp", slot * 512, 0, 1, 256, 256, pop_next=tokens and t >= 2, push_next=tokens))
        prog.append(isa.gemm(False, acc=slot * 256, inp=slot * 512, y_ext=1, x_ext=200, k_ext=2, acc_x=1, inp_x=1,
                             inp_k=256, pop_prev=tokens, pop_next=tokens and t >= 2, push_prev=tokens, push_next=tokens))
        prog.append(isa.store(slot * 256, 8192, 1, 200, 200, pop_prev=tokens, push_prev=tokens))
    return prog + [isa.finish()]


def test_queues_overlap_with_tokens():
    dev = _dev()
    prog = _pipeline(6)
    serial = sum(dev.cost(i) for i in prog)
    stats = dev.run(isa.encode_program(prog))
    assert stats["cycles"] < 0.75 * serial  # loads, GEMMs and stores of different tiles overlap
    assert stats["gemm"] == sum(dev.cost(i) for i in prog if i.op == "GEMM")
    assert stats["macs"] == 6 * 200 * 2 * 16 * 16 and stats["dram_read"] == 6 * 256 * 16
    assert dev.run(prog, functional=False)["cycles"] == stats["cycles"]  # cycles do not depend on data


def test_missing_token_deadlocks_with_a_message():
    prog = [isa.load("inp", 0, 0, 1, 1, 1),  # pushes nothing
            isa.gemm(False, y_ext=1, x_ext=1, k_ext=1, pop_prev=True)]
    with pytest.raises(SimulatorError, match="deadlock.*GEMM #1"):
        _dev().run(prog)
    with pytest.raises(SimulatorError, match="cannot push_prev"):
        _dev().run([isa.load("inp", 0, 0, 1, 1, 1, push_prev=True)])


def test_out_of_bounds_accesses_fail():
    dev = _dev(4096)
    with pytest.raises(SimulatorError, match="DRAM access past 4096 bytes"):
        dev.execute(isa.load("inp", 0, 4000, 1, 10, 10))
    with pytest.raises(SimulatorError, match="past the 2048 rows of inp"):
        dev.execute(isa.load("inp", 2040, 0, 1, 10, 10))
    with pytest.raises(SimulatorError, match="accumulator row out of range"):
        dev.execute(isa.gemm(False, acc=2047, y_ext=1, x_ext=2, acc_x=1, k_ext=1))
    with pytest.raises(SimulatorError, match="bits must be 1..8"):
        dev.execute(isa.gemm(True, bits=0, y_ext=1, x_ext=1, k_ext=1))
    with pytest.raises(SimulatorError, match="unknown buffer"):
        dev.execute(isa.Insn("LOAD", {"buffer": 7}))


def test_alu_min_max_and_shift():
    rng = np.random.default_rng(6)
    dev = _dev()
    a = rng.standard_normal((3, 16)).astype(np.float32)
    b = rng.standard_normal((3, 16)).astype(np.float32)
    accf = dev.buf["acc"].view(np.float32)
    accf[0:3], accf[10:13], accf[20:23] = a, a, b
    dev.execute(isa.alu("min", 0, 3, src=20))
    dev.execute(isa.alu("max", 10, 3, src=20))
    np.testing.assert_array_equal(accf[0:3], np.minimum(a, b))
    np.testing.assert_array_equal(accf[10:13], np.maximum(a, b))
    ints = rng.integers(-(1 << 20), 1 << 20, (2, 16)).astype(np.int32)
    dev.buf["acc"][30:32] = ints
    dev.execute(isa.alu("shr", 30, 2, imm=3))
    np.testing.assert_array_equal(dev.buf["acc"][30:32], ints >> 3)  # arithmetic: rounds toward -inf
    with pytest.raises(SimulatorError, match="unknown ALU op"):
        dev.execute(isa.Insn("ALU", {"op": 7, "rows": 1}))
