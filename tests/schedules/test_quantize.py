"""quantize / quantize_bitpack: TVM (unscheduled and x86) against the numpy twin, bit for bit, and
the twin against the definition in docs/numerics.md."""
from __future__ import annotations

import numpy as np
import pytest
import tvm

from schedules.common import PACK_DTYPES, num_words
from schedules.quantize import reference as ref
from schedules.quantize.kernel import quantize_bitpack_prim_func, quantize_prim_func
from tvm_sepnet.targets import host_mcpu

FAMILIES = [None, "x86"]


@pytest.fixture(scope="module")
def target():
    return tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2})


def _run(func, target, inputs, out_shape, out_dtype):
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty(out_shape, out_dtype, dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in inputs], out)
    return out.numpy()


def _activations(rng, shape, inv_scale, hi):
    """Random values, a third of them exactly on a rounding tie (k + 0.5) / inv_scale."""
    x = rng.normal(0.3 * hi, 0.6 * hi + 1, size=shape) / inv_scale
    ties = (rng.integers(-3, hi + 3, size=shape) + 0.5) / inv_scale
    return np.where(rng.random(shape) < 0.33, ties, x).astype(np.float32)


# ---------------------------------------------------------------- reference vs the definition


def test_rint_half_even_and_clip_reference():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.49, 3.5, 254.5, 255.5, 1e9, -1e9, -3.2], np.float32)
    np.testing.assert_array_equal(
        ref.quantize(x, np.float32(1.0), 0, 255, np.uint8), [0, 2, 2, 0, 0, 3, 4, 254, 255, 255, 0, 0]
    )
    np.testing.assert_array_equal(
        ref.quantize(x, np.float32(1.0), -127, 127, np.int8), [0, 2, 2, 0, -2, 3, 4, 127, 127, 127, -127, -3]
    )
    np.testing.assert_array_equal(ref.quantize(x, np.float32(1.0), 0, 3, np.uint8), [0, 2, 2, 0, 0, 3, 3, 3, 3, 3, 0, 0])


def test_quantize_multiplies_in_float32():
    # 0.1f * 25.0f rounds to exactly 2.5 in float32 (-> 2), while the float64 product is 2.5000000372.
    x = np.array([0.1], np.float32)
    assert np.float32(x[0]) * np.float32(25.0) == np.float32(2.5)
    np.testing.assert_array_equal(ref.quantize(x, np.array([25.0], np.float32), 0, 255, np.uint8), [2])


def test_bitpack_reference_matches_bit_definition():
    rng = np.random.default_rng(1)
    n, c, h, w, bits, groups, pbits = 2, 10, 3, 4, 3, 2, 8
    q = rng.integers(0, 1 << bits, (n, c, h, w)).astype(np.uint8)
    xp = ref.bitpack(q, bits, groups, pbits)
    cg = c // groups
    kc_n = num_words(cg, pbits)
    assert xp.shape == (n, groups, kc_n, bits, h, w) and xp.dtype == np.uint8
    for idx in np.ndindex(xp.shape):
        nn, g, kc, a, hh, ww = idx
        word = 0
        for j in range(pbits):
            ch = kc * pbits + j
            if ch < cg:
                word |= ((int(q[nn, g * cg + ch, hh, ww]) >> a) & 1) << j
        assert int(xp[idx]) == word, idx


@pytest.mark.parametrize("pbits", [8, 16, 32, 64])
@pytest.mark.parametrize("cg", [3, 12, 40, 64])
def test_bitpack_unpack_round_trip(pbits, cg):
    rng = np.random.default_rng(cg * pbits)
    bits, groups = 4, 2
    q = rng.integers(0, 1 << bits, (2, cg * groups, 3, 5)).astype(np.uint8)
    xp = ref.bitpack(q, bits, groups, pbits)
    assert xp.dtype == np.dtype(PACK_DTYPES[pbits]) and xp.shape[2] == num_words(cg, pbits)
    np.testing.assert_array_equal(ref.unpack_bits(xp, cg), q)


# ---------------------------------------------------------------- TVM vs reference


@pytest.mark.parametrize("family", FAMILIES)
def test_quantize_ties_and_clipping_tvm(family, target):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.49, 3.5, 254.5, 255.5, 1e9, -1e9, -3.2, 126.5, -127.5, 7.0, 0.0], np.float32)
    one = np.array([1.0], np.float32)
    for lo, hi, dtype in [(0, 255, "uint8"), (-127, 127, "int8"), (0, 3, "uint8")]:
        func = quantize_prim_func(x.shape, lo=lo, hi=hi, out_dtype=dtype, family=family)
        got = _run(func, target, [x, one], x.shape, dtype)
        np.testing.assert_array_equal(got, ref.quantize(x, one, lo, hi, dtype))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "shape, lo, hi, dtype",
    [((1, 12, 7, 9), 0, 255, "uint8"), ((2, 5, 6, 33), -127, 127, "int8"), ((40, 17), 0, 15, "uint8"),
     ((1000,), 0, 255, "uint8")],
)
def test_quantize_tvm(family, shape, lo, hi, dtype, target):
    rng = np.random.default_rng(sum(shape))
    inv = np.array([1.0 / 0.037], np.float32)
    x = _activations(rng, shape, inv[0], hi)
    func = quantize_prim_func(shape, lo=lo, hi=hi, out_dtype=dtype, family=family)
    np.testing.assert_array_equal(_run(func, target, [x, inv], shape, dtype), ref.quantize(x, inv, lo, hi, dtype))


BITPACK_CASES = [
    # shape, bits, groups, pack_bits
    ((1, 3, 5, 7), 1, 1, 8),
    ((2, 10, 6, 9), 2, 2, 8),  # Cg = 5
    ((1, 48, 7, 7), 4, 4, 16),  # Cg = 12, padded bits in a uint16 word
    ((1, 40, 5, 6), 8, 1, 64),  # Cg = 40 in one uint64 word
    ((1, 64, 14, 14), 2, 1, 32),
    ((1, 128, 4, 20), 3, 2, 64),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape, bits, groups, pbits", BITPACK_CASES)
def test_quantize_bitpack_tvm(family, shape, bits, groups, pbits, target):
    rng = np.random.default_rng(sum(shape) + bits)
    inv = np.array([1.0 / 0.21], np.float32)
    x = _activations(rng, shape, inv[0], (1 << bits) - 1)
    expected = ref.quantize_bitpack(x, inv, bits, groups, pbits)
    func = quantize_bitpack_prim_func(shape, bits=bits, groups=groups, pack_bits=pbits, family=family)
    got = _run(func, target, [x, inv], expected.shape, PACK_DTYPES[pbits])
    np.testing.assert_array_equal(got, expected)
    q = ref.quantize(x, inv, 0, (1 << bits) - 1, np.uint8)
    np.testing.assert_array_equal(ref.unpack_bits(got, shape[1] // groups), q)


@pytest.mark.parametrize(
    "knobs",
    [{"fuse_all": False, "vector_width": 3, "pack_vector_width": 5, "parallel_axes": 1, "unroll_pack": False},
     {"fuse_all": False, "vector_width": 16, "pack_vector_width": 16, "parallel_axes": 3},
     {"fuse_all": True, "pack_vector_width": 16}],
)
def test_quantize_bitpack_x86_knobs(knobs, target):
    rng = np.random.default_rng(5)
    shape, bits, groups, pbits = (1, 20, 6, 29), 3, 2, 16
    inv = np.array([2.0], np.float32)
    x = _activations(rng, shape, inv[0], (1 << bits) - 1)
    func = quantize_bitpack_prim_func(shape, bits=bits, groups=groups, pack_bits=pbits, knobs=knobs)
    expected = ref.quantize_bitpack(x, inv, bits, groups, pbits)
    np.testing.assert_array_equal(_run(func, target, [x, inv], expected.shape, "uint16"), expected)


def test_vector_lanes():
    from schedules.quantize.cpu import vector_lanes

    assert [vector_lanes(e, 8) for e in (56, 28, 14, 7, 9, 27, 13, 17, 58, 1)] == [8, 7, 7, 7, 9, 9, 13, 8, 8, 1]


def test_prim_func_signature():
    func = quantize_bitpack_prim_func((1, 12, 5, 5), bits=2, groups=2, pack_bits=8)
    assert "global_symbol" not in func.attrs
    shapes = [tuple(p.ty.shape) for p in func.params]
    assert [len(s) for s in shapes] == [4, 1, 6]
    assert all(str(dim.ty) == "int64" for s in shapes for dim in s)
    assert [int(d) for d in shapes[2]] == [1, 2, 1, 2, 5, 5]


# ---------------------------------------------------------------- im2col bit layout (bitserial_conv2d input)


def test_bitpack_im2col_reference_matches_definition():
    from schedules.common import conv_out_size

    rng = np.random.default_rng(2)
    n, c, h, w, bits, groups, k, s, pad, d = 1, 10, 6, 7, 3, 2, 3, 2, (0, 1, 2, 1), 1
    q = rng.integers(0, 1 << bits, (n, c, h, w)).astype(np.uint8)
    for pbits in (32, 64):
        xcol = ref.bitpack_im2col(q, bits, groups, pbits, k, s, pad, d)
        cg = c // groups
        ho, wo = conv_out_size(h, k, s, 0, 2, d), conv_out_size(w, k, s, 1, 1, d)
        assert xcol.shape == (n, groups, ho, bits, num_words(k * k * cg, pbits), wo)
        for nn, g, y, a, kr, x in np.ndindex(xcol.shape):
            word = 0
            for j in range(pbits):
                r = kr * pbits + j
                if r >= k * k * cg:
                    continue
                t, ch = divmod(r, cg)
                ky, kx = divmod(t, k)
                iy, ix = y * s + ky * d - pad[0], x * s + kx * d - pad[1]
                if 0 <= iy < h and 0 <= ix < w:
                    word |= ((int(q[nn, g * cg + ch, iy, ix]) >> a) & 1) << j
            assert int(xcol[nn, g, y, a, kr, x]) == word
        vals = ref.unpack_im2col(xcol)[..., : k * k * cg]
        np.testing.assert_array_equal(vals, ref.im2col_values(q, groups, k, s, pad, d))


IM2COL_CASES = [
    # shape, bits, groups, pack_bits, kernel, stride, padding, dilation
    ((1, 3, 7, 9), 1, 1, 64, 3, 1, 1, 1),  # odd channels
    ((2, 10, 9, 8), 2, 2, 64, 3, 2, 1, 1),  # Cg = 5, stride 2
    ((1, 48, 9, 11), 4, 4, 32, 5, 1, 2, 1),  # 5x5, padding 2, 32-bit words
    ((1, 40, 5, 6), 8, 1, 64, 1, 1, 0, 1),  # 1x1, padding 0
    ((1, 64, 14, 14), 4, 4, 64, 3, 1, 1, 1),  # SEP-Net shape (Cg = 16)
    ((1, 96, 7, 7), 2, 4, 64, 3, 2, 0, 1),  # Cg = 24, stride 2, padding 0
    ((1, 130, 6, 7), 1, 2, 64, 3, 1, (0, 1, 2, 1), 2),  # Cg = 65: two channel words, dilation 2
    ((1, 66, 6, 6), 8, 2, 32, 3, 1, 1, 1),  # Cg = 33 in 32-bit words
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape, bits, groups, pbits, k, s, pad, d", IM2COL_CASES)
def test_quantize_bitpack_im2col_tvm(family, shape, bits, groups, pbits, k, s, pad, d, target):
    from schedules.quantize.kernel import quantize_bitpack_im2col_prim_func

    rng = np.random.default_rng(sum(shape) + bits + k)
    inv = np.array([1.0 / 0.21], np.float32)
    x = _activations(rng, shape, inv[0], (1 << bits) - 1)
    expected = ref.quantize_bitpack_im2col(x, inv, bits, groups, pbits, k, s, pad, d)
    func = quantize_bitpack_im2col_prim_func(shape, bits=bits, groups=groups, pack_bits=pbits, kernel=k, strides=s,
                                             padding=pad, dilation=d, family=family)
    np.testing.assert_array_equal(_run(func, target, [x, inv], expected.shape, PACK_DTYPES[pbits]), expected)


@pytest.mark.parametrize("knobs", [{"im2col_vector_width": 3, "im2col_unroll": False, "pack_vector_width": 5},
                                   {"im2col_vector_width": 8, "vector_width": 16}])
def test_quantize_bitpack_im2col_x86_knobs(knobs, target):
    from schedules.quantize.kernel import quantize_bitpack_im2col_prim_func

    rng = np.random.default_rng(9)
    shape, bits, groups = (1, 20, 6, 29), 3, 2
    inv = np.array([2.0], np.float32)
    x = _activations(rng, shape, inv[0], (1 << bits) - 1)
    expected = ref.quantize_bitpack_im2col(x, inv, bits, groups, 64, 3, 1, 1, 1)
    func = quantize_bitpack_im2col_prim_func(shape, bits=bits, groups=groups, kernel=3, padding=1, knobs=knobs)
    np.testing.assert_array_equal(_run(func, target, [x, inv], expected.shape, "uint64"), expected)
