"""Grouped bitserial conv2d (im2col bit layout): TVM (unscheduled and x86) against the numpy twin, bit
for bit, and the twin against a brute-force ``sum_c q[c] * B[c]`` loop on the stored weights
(docs/numerics.md)."""
from __future__ import annotations

import numpy as np
import pytest
import tvm

from schedules.bitserial_conv2d import packing
from schedules.bitserial_conv2d import reference as ref
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from schedules.common import PACK_DTYPES, conv_out_size, integer_epilogue_np, normalize_padding, num_words, pack_bits_for
from schedules.quantize import reference as qref
from tvm_sepnet.targets import host_mcpu

FAMILIES = [None, "x86"]


@pytest.fixture(scope="module")
def target():
    return tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2})


def _problem(rng, n, c, h, w, o, k, groups, bits, pbits, zero_every=3, strides=1, padding=0, dilation=1):
    """Random q, signs, im2col words ``xcol``, kernel-ready ``wk`` (from the stored ``wb``) and
    epilogue vectors; every ``zero_every``-th channel has ``scale = 0`` (an all-zero filter: the
    output is the offset alone)."""
    cg = c // groups
    q = rng.integers(0, 1 << bits, (n, c, h, w)).astype(np.uint8)
    signs = np.where(rng.random((o, cg, k, k)) < 0.5, -1, 1).astype(np.int8)
    scale = rng.uniform(0.001, 0.05, o).astype(np.float32)
    scale[::zero_every] = 0
    offset = rng.normal(0, 20, o).astype(np.float32)
    wb = packing.pack_weights(signs, pack_bits_for(cg))  # the stored layout
    xcol = qref.bitpack_im2col(q, bits, groups, pbits, k, strides, padding, dilation)
    return q, signs, xcol, packing.prepare_weights(wb, cg, pbits), scale, offset


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


def test_prepare_weights_bit_layout():
    """wk bit r = (ky*KW + kx)*Cg + c; bits past KH*KW*Cg are 0; 32- and 64-bit words agree."""
    rng = np.random.default_rng(11)
    signs = np.where(rng.random((3, 5, 3, 2)) < 0.5, -1, 1).astype(np.int8)
    wb = packing.pack_weights(signs, 8)
    for pbits in (32, 64):
        wk = packing.prepare_weights(wb, 5, pbits)
        assert wk.shape == (3, num_words(30, pbits)) and wk.dtype == np.dtype(PACK_DTYPES[pbits])
        flat = packing.unprepare_weights(wk)
        for o, c, ky, kx in np.ndindex(signs.shape):
            assert flat[o, (ky * 2 + kx) * 5 + c] == signs[o, c, ky, kx]
        assert (flat[:, 30:] == -1).all()  # padding bits are 0


@pytest.mark.parametrize(
    "c, o, k, strides, padding, dilation, groups, bits, pbits",
    [
        (5, 4, 3, (1, 1), 1, (1, 1), 1, 2, 64),
        (12, 6, 3, (2, 2), (0, 1, 2, 1), (1, 1), 2, 3, 32),
        (8, 4, 2, (1, 2), 2, (2, 1), 4, 1, 64),
    ],
)
def test_reference_matches_brute_force(c, o, k, strides, padding, dilation, groups, bits, pbits):
    rng = np.random.default_rng(c * o + k)
    q, signs, xcol, wk, scale, offset = _problem(rng, 2, c, 6, 7, o, k, groups, bits, pbits, strides=strides,
                                                 padding=padding, dilation=dilation)
    acc = ref.grouped_conv2d_int(q, signs, strides=strides, padding=padding, dilation=dilation, groups=groups)
    expected = _brute_force_acc(q, signs, strides, padding, dilation, groups)
    np.testing.assert_array_equal(acc, expected)
    np.testing.assert_array_equal(ref.bitserial_accumulate(xcol, wk), expected)
    got = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=False)
    np.testing.assert_array_equal(got, integer_epilogue_np(expected, scale, offset, relu=False))


# ---------------------------------------------------------------- TVM vs reference

CASES = [
    # n, c, h, w, o, k, stride, padding, dilation, groups, bits, pack_bits, relu
    (1, 3, 7, 9, 4, 3, 1, 1, 1, 1, 1, 64, True),  # Cg = 3 (27 taps in one word)
    (1, 10, 9, 8, 6, 3, 2, 1, 1, 2, 2, 64, False),  # Cg = 5, stride 2, 3 outputs per group
    (2, 48, 9, 11, 8, 5, 1, 2, 1, 4, 4, 64, True),  # Cg = 12, 5x5, padding 2
    (1, 40, 10, 10, 16, 1, 1, 0, 1, 1, 8, 64, False),  # 1x1, Cg = 40 in one word
    (1, 64, 14, 14, 32, 3, 1, (0, 1, 2, 1), 1, 1, 2, 32, True),  # asymmetric padding, 32-bit words
    (1, 128, 12, 12, 64, 3, 2, 1, 1, 2, 1, 64, False),  # Cg = 64, groups 2, stride 2
    (1, 80, 9, 9, 20, 3, 1, 1, 1, 2, 8, 32, True),  # Cg = 40
    (1, 64, 12, 13, 8, 3, 1, 2, 2, 4, 2, 64, False),  # groups 4, dilation 2
    (1, 64, 15, 15, 64, 3, 2, 0, 1, 4, 4, 64, True),  # SEP-Net-like, stride 2, padding 0
    (1, 96, 14, 14, 96, 3, 1, 1, 1, 4, 4, 64, True),  # Cg = 24 (216 taps in 4 words)
    (1, 21, 8, 10, 14, 3, 2, 2, 1, 1, 1, 64, False),  # odd channels, stride 2, padding 2
    (1, 66, 9, 9, 6, 3, 1, 1, 1, 2, 8, 64, True),  # Cg = 33: channel words span two 32-bit words
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n, c, h, w, o, k, stride, padding, dilation, groups, bits, pbits, relu", CASES)
def test_bitserial_conv2d_tvm(family, n, c, h, w, o, k, stride, padding, dilation, groups, bits, pbits, relu, target):
    rng = np.random.default_rng(c * 1000 + o * 10 + k)
    geo = dict(strides=(stride, stride), padding=padding, dilation=(dilation, dilation))
    q, signs, xcol, wk, scale, offset = _problem(rng, n, c, h, w, o, k, groups, bits, pbits, **geo)
    expected = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=relu)
    acc = ref.grouped_conv2d_int(q, signs, groups=groups, **geo)  # from the stored layout
    np.testing.assert_array_equal(expected, integer_epilogue_np(acc, scale, offset, relu))
    out = _run_conv(target, xcol, wk, scale, offset, relu, family=family)
    np.testing.assert_array_equal(out, expected)
    zero = scale == 0
    want = np.maximum(offset, 0) if relu else offset
    np.testing.assert_array_equal(out[:, zero], np.broadcast_to(want[zero, None, None], out[:, zero].shape))


def _run_conv(target, xcol, wk, scale, offset, relu, family="x86", knobs=None):
    n, _, ho, _, _, wo = xcol.shape
    func = bitserial_conv2d_prim_func(xcol.shape, wk.shape, str(xcol.dtype), relu=relu, family=family, knobs=knobs)
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty((n, wk.shape[0], ho, wo), "float32", dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in (xcol, wk, scale, offset)], out)
    return out.numpy()


@pytest.mark.parametrize("knobs", [
    {"tile_o": 3, "tile_x": 5, "unroll": ("a", "kr"), "vectorize_x": False},
    {"tile_o": 16, "tile_x": 16, "unroll": (), "parallel": False, "o_inner": True},
    {"tile_o": 4, "tile_x": 2, "unroll": ("kr",), "vectorize_x": False, "o_inner": True},
])
def test_bitserial_conv2d_x86_knobs(knobs, target):
    rng = np.random.default_rng(7)
    _, _, xcol, wk, scale, offset = _problem(rng, 1, 96, 11, 11, 48, 3, 2, 2, 64, padding=1)
    expected = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=True)
    np.testing.assert_array_equal(_run_conv(target, xcol, wk, scale, offset, True, knobs=knobs), expected)


def test_all_zero_filters_give_offset(target):
    rng = np.random.default_rng(3)
    _, _, xcol, wk, _, offset = _problem(rng, 1, 32, 6, 6, 8, 3, 1, 2, 64, padding=1)
    scale = np.zeros(8, np.float32)
    out = _run_conv(target, xcol, wk, scale, offset, False)
    np.testing.assert_array_equal(out, np.broadcast_to(offset[None, :, None, None], (1, 8, 6, 6)))


def test_prim_func_signature():
    func = bitserial_conv2d_prim_func((1, 2, 9, 2, 1, 9), (8, 1), "uint64", relu=True)
    assert "global_symbol" not in func.attrs
    shapes = [tuple(p.ty.shape) for p in func.params]
    assert [tuple(int(d) for d in s) for s in shapes] == [(1, 2, 9, 2, 1, 9), (8, 1), (8,), (8,), (1, 8, 9, 9)]
    assert all(str(d.ty) == "int64" for s in shapes for d in s)


@pytest.mark.parametrize("relu", [False, True])
def test_residual_added_before_relu(relu, target):
    rng = np.random.default_rng(11)
    _, _, xcol, wk, scale, offset = _problem(rng, 1, 64, 9, 9, 32, 3, 4, 2, 64, padding=1)
    n, _, ho, _, _, wo = xcol.shape
    residual = rng.standard_normal((n, wk.shape[0], ho, wo)).astype(np.float32) * 50
    expected = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=relu, residual=residual)
    want = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=False) + residual
    np.testing.assert_array_equal(expected, np.maximum(want, 0) if relu else want)
    func = bitserial_conv2d_prim_func(xcol.shape, wk.shape, str(xcol.dtype), relu=relu, residual=True)
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    out = tvm.runtime.empty(expected.shape, "float32", tvm.cpu())
    ex["main"](*[tvm.runtime.tensor(a) for a in (xcol, wk, scale, offset, residual)], out)
    np.testing.assert_array_equal(out.numpy(), expected)
