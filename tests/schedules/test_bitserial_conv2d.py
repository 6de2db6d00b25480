"""Grouped bitserial conv2d: TVM (unscheduled and x86) against the numpy twin, bit for bit, and the
twin against a brute-force ``sum_c q[c] * B[c]`` loop (docs/numerics.md)."""
from __future__ import annotations

import numpy as np
import pytest
import tvm

from schedules.bitserial_conv2d import packing
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from schedules.bitserial_conv2d import reference as ref
from schedules.common import PACK_DTYPES, conv_out_size, integer_epilogue_np, normalize_padding, num_words
from schedules.quantize import reference as qref
from tvm_sepnet.targets import host_mcpu

FAMILIES = [None, "x86"]


@pytest.fixture(scope="module")
def target():
    return tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2})


def _problem(rng, n, c, h, w, o, k, groups, bits, pbits, zero_every=3):
    """Random q, signs, packed tensors and epilogue vectors; every ``zero_every``-th channel has
    ``scale = 0`` (an all-zero filter: the output is the offset alone)."""
    cg = c // groups
    q = rng.integers(0, 1 << bits, (n, c, h, w)).astype(np.uint8)
    signs = np.where(rng.random((o, cg, k, k)) < 0.5, -1, 1).astype(np.int8)
    scale = rng.uniform(0.001, 0.05, o).astype(np.float32)
    scale[::zero_every] = 0
    offset = rng.normal(0, 20, o).astype(np.float32)
    return q, signs, qref.bitpack(q, bits, groups, pbits), packing.pack_weights(signs, pbits), scale, offset


def _brute_force_acc(q, signs, strides, padding, dilation, groups):
    n, c, h, w = q.shape
    o_n, cg, kh, kw = signs.shape
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, strides[0], top, bottom, dilation[0])
    wo = conv_out_size(w, kw, strides[1], left, right, dilation[1])
    acc = np.zeros((n, o_n, ho, wo), np.int64)
    og = o_n // groups
    for nn, o, y, x in np.ndindex(acc.shape):
        total = 0
        for ci in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    iy = y * strides[0] + ky * dilation[0] - top
                    ix = x * strides[1] + kx * dilation[1] - left
                    if 0 <= iy < h and 0 <= ix < w:
                        total += int(q[nn, (o // og) * cg + ci, iy, ix]) * int(signs[o, ci, ky, kx])
        acc[nn, o, y, x] = total
    return acc


# ---------------------------------------------------------------- packing and the reference


@pytest.mark.parametrize("pbits", [8, 16, 32, 64])
@pytest.mark.parametrize("cg", [3, 5, 12, 40, 64])
def test_weight_pack_round_trip(pbits, cg):
    rng = np.random.default_rng(cg + pbits)
    w = rng.normal(size=(6, cg, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0] = 0.0  # sign(0) = +1
    wb = packing.pack_weights(w, pbits)
    assert wb.shape == (6, num_words(cg, pbits), 3, 3) and wb.dtype == np.dtype(PACK_DTYPES[pbits])
    signs = packing.unpack_weights(wb, cg)
    np.testing.assert_array_equal(signs, np.where(w >= 0, 1, -1).astype(np.int8))
    np.testing.assert_array_equal(packing.pack_weights(signs, pbits), wb)


def test_weight_pack_bit_layout():
    signs = -np.ones((1, 10, 1, 1), np.int8)
    signs[0, [0, 3, 9]] = 1
    wb = packing.pack_weights(signs, 8)
    assert wb.shape == (1, 2, 1, 1)
    assert int(wb[0, 0, 0, 0]) == 0b00001001 and int(wb[0, 1, 0, 0]) == 0b00000010  # padded bits are 0


@pytest.mark.parametrize(
    "c, o, k, strides, padding, dilation, groups, bits, pbits",
    [
        (5, 4, 3, (1, 1), 1, (1, 1), 1, 2, 8),
        (12, 6, 3, (2, 2), (0, 1, 2, 1), (1, 1), 2, 3, 16),
        (8, 4, 2, (1, 2), 2, (2, 1), 4, 1, 64),
    ],
)
def test_reference_matches_brute_force(c, o, k, strides, padding, dilation, groups, bits, pbits):
    rng = np.random.default_rng(c * o + k)
    q, signs, xp, wb, scale, offset = _problem(rng, 2, c, 6, 7, o, k, groups, bits, pbits)
    acc = ref.grouped_conv2d_int(q, signs, strides=strides, padding=padding, dilation=dilation, groups=groups)
    expected = _brute_force_acc(q, signs, strides, padding, dilation, groups)
    np.testing.assert_array_equal(acc, expected)
    got = ref.bitserial_conv2d(xp, wb, scale, offset, strides=strides, padding=padding, dilation=dilation, groups=groups, relu=False, channels_per_group=c // groups)
    np.testing.assert_array_equal(got, integer_epilogue_np(expected, scale, offset, relu=False))


# ---------------------------------------------------------------- TVM vs reference

CASES = [
    # n, c, h, w, o, k, stride, padding, dilation, groups, bits, pack_bits, relu
    (1, 3, 7, 9, 4, 3, 1, 1, 1, 1, 1, 8, True),  # Cg = 3
    (1, 10, 9, 8, 6, 3, 2, 1, 1, 2, 2, 8, False),  # Cg = 5, stride 2, 3 outputs per group
    (2, 48, 9, 11, 8, 5, 1, 2, 1, 4, 4, 16, True),  # Cg = 12 in uint16 words, 5x5
    (1, 40, 10, 10, 16, 1, 1, 0, 1, 1, 8, 64, False),  # 1x1, Cg = 40 in one uint64 word
    (1, 64, 14, 14, 32, 3, 1, (0, 1, 2, 1), 1, 1, 2, 32, True),  # asymmetric padding
    (1, 128, 12, 12, 64, 3, 2, 1, 1, 2, 1, 64, False),  # Cg = 64, groups 2, stride 2
    (1, 80, 9, 9, 20, 3, 1, 1, 1, 2, 8, 32, True),  # Cg = 40 in two uint32 words
    (1, 64, 12, 13, 8, 3, 1, 2, 2, 4, 2, 16, False),  # groups 4, dilation 2
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n, c, h, w, o, k, stride, padding, dilation, groups, bits, pbits, relu", CASES)
def test_bitserial_conv2d_tvm(family, n, c, h, w, o, k, stride, padding, dilation, groups, bits, pbits, relu, target):
    rng = np.random.default_rng(c * 1000 + o * 10 + k)
    _, _, xp, wb, scale, offset = _problem(rng, n, c, h, w, o, k, groups, bits, pbits)
    kw = dict(strides=(stride, stride), padding=padding, dilation=(dilation, dilation), groups=groups, relu=relu)
    expected = ref.bitserial_conv2d(xp, wb, scale, offset, channels_per_group=c // groups, **kw)
    func = bitserial_conv2d_prim_func(xp.shape, wb.shape, PACK_DTYPES[pbits], family=family, **kw)
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty(expected.shape, "float32", dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in (xp, wb, scale, offset)], out)
    np.testing.assert_array_equal(out.numpy(), expected)
    zero = scale == 0
    want = np.maximum(offset, 0) if relu else offset
    np.testing.assert_array_equal(out.numpy()[:, zero], np.broadcast_to(want[zero, None, None], out.numpy()[:, zero].shape))


@pytest.mark.parametrize("knobs", [{"tile_o": 3, "tile_x": 5, "unroll": ("kc", "ky", "kx", "a")}, {"tile_o": 16, "tile_x": 16, "unroll": (), "parallel": False}])
def test_bitserial_conv2d_x86_knobs(knobs, target):
    rng = np.random.default_rng(7)
    _, _, xp, wb, scale, offset = _problem(rng, 1, 96, 11, 11, 48, 3, 2, 2, 16)
    kw = dict(strides=(1, 1), padding=1, dilation=(1, 1), groups=2, relu=True)
    expected = ref.bitserial_conv2d(xp, wb, scale, offset, channels_per_group=48, **kw)
    func = bitserial_conv2d_prim_func(xp.shape, wb.shape, "uint16", knobs=knobs, **kw)
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty(expected.shape, "float32", dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in (xp, wb, scale, offset)], out)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_all_zero_filters_give_offset(target):
    rng = np.random.default_rng(3)
    _, _, xp, wb, _, offset = _problem(rng, 1, 32, 6, 6, 8, 3, 1, 2, 32)
    scale = np.zeros(8, np.float32)
    func = bitserial_conv2d_prim_func(xp.shape, wb.shape, "uint32", padding=1, relu=False)
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty((1, 8, 6, 6), "float32", dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in (xp, wb, scale, offset)], out)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(offset[None, :, None, None], (1, 8, 6, 6)))


def test_reference_is_fast():
    import time

    rng = np.random.default_rng(0)
    _, _, xp, wb, scale, offset = _problem(rng, 1, 64, 56, 56, 64, 3, 1, 2, 32)
    start = time.perf_counter()
    ref.bitserial_conv2d(xp, wb, scale, offset, strides=(1, 1), padding=1, dilation=(1, 1), groups=1, relu=True, channels_per_group=64)
    assert time.perf_counter() - start < 1.0


def test_prim_func_signature():
    func = bitserial_conv2d_prim_func((1, 2, 1, 2, 9, 9), (8, 1, 3, 3), "uint8", padding=1, groups=2, relu=True)
    assert "global_symbol" not in func.attrs
    shapes = [tuple(p.ty.shape) for p in func.params]
    assert [tuple(int(d) for d in s) for s in shapes] == [(1, 2, 1, 2, 9, 9), (8, 1, 3, 3), (8,), (8,), (1, 8, 9, 9)]
    assert all(str(d.ty) == "int64" for s in shapes for d in s)
