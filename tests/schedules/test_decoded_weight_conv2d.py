"""decoded_weight_conv2d: TVM kernel (unscheduled and x86) against the numpy twin, with a tolerance
(float32 accumulation), for binary (all pack widths) and int8 weights."""
import numpy as np
import pytest

from schedules.common import PACK_DTYPES, num_words, pack_bits_for
from schedules.decoded_weight_conv2d import reference
from schedules.decoded_weight_conv2d.kernel import decoded_weight_conv2d_prim_func
from tests.schedules.conftest import run_prim_func


def pack_signs(signs, pack_bits):
    """(O, Cg, KH, KW) ±1 -> (O, KC, KH, KW) words: bit i % P of word i // P set iff sign is +1."""
    o, cg, kh, kw = signs.shape
    words = np.zeros((o, num_words(cg, pack_bits), kh, kw), np.uint64)
    for i in range(cg):
        words[:, i // pack_bits] |= (signs[:, i] > 0).astype(np.uint64) << np.uint64(i % pack_bits)
    return words.astype(PACK_DTYPES[pack_bits])


def make_weights(rng, weight_format, w_logical, pack_bits):
    if weight_format == "binary":
        signs = rng.choice(np.array([-1, 1], np.int8), size=w_logical)
        return pack_signs(signs, pack_bits or pack_bits_for(w_logical[1])), signs
    wq = rng.integers(-127, 128, size=w_logical).astype(np.int8)
    return wq, wq


# (x_shape, w_logical (O, Cg, KH, KW), format, pack_bits, strides, padding, dilation, groups, relu, family)
CASES = [
    ((1, 16, 9, 9), (8, 8, 3, 3), "binary", None, (1, 1), 1, (1, 1), 2, True, "x86"),
    ((1, 40, 9, 8), (6, 40, 3, 3), "binary", 8, (2, 2), (0, 1, 1, 2), (1, 1), 1, False, "x86"),  # padded last word
    ((2, 64, 7, 7), (12, 32, 1, 1), "binary", 32, (1, 1), 0, (1, 1), 2, False, "x86"),  # pointwise
    ((1, 128, 6, 6), (8, 64, 1, 1), "binary", 64, (1, 1), 0, (1, 1), 2, True, "x86"),  # uint64 words
    ((1, 12, 9, 9), (6, 6, 3, 3), "int8", None, (1, 1), 2, (2, 2), 2, True, "x86"),  # dilation
    ((1, 20, 10, 10), (16, 5, 3, 3), "int8", None, (2, 1), 1, (1, 1), 4, False, "x86"),  # odd Cg
    ((1, 16, 12, 12), (16, 1, 3, 3), "binary", None, (1, 1), 1, (1, 1), 16, True, "x86"),  # depthwise: channel vectors
    ((1, 8, 64, 64), (8, 1, 3, 3), "int8", None, (2, 2), 1, (1, 1), 8, False, "x86"),  # depthwise, long rows
    ((1, 24, 8, 8), (8, 24, 3, 3), "binary", 16, (1, 1), 1, (1, 1), 1, True, None),  # unscheduled
    ((1, 6, 7, 7), (4, 3, 3, 3), "int8", None, (2, 2), (1, 0, 0, 1), (1, 1), 2, False, None),  # unscheduled
]


@pytest.mark.parametrize("x_shape,w_logical,weight_format,pack_bits,strides,padding,dilation,groups,relu,family", CASES)
def test_kernel_matches_reference(target, x_shape, w_logical, weight_format, pack_bits, strides, padding, dilation, groups,
                                  relu, family):
    rng = np.random.default_rng(sum(x_shape) + sum(w_logical))
    w, _ = make_weights(rng, weight_format, w_logical, pack_bits)
    x = rng.normal(size=x_shape).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, size=w_logical[0]).astype(np.float32)
    bias = rng.normal(size=w_logical[0]).astype(np.float32)
    conv = dict(weight_format=weight_format, channels_per_group=w_logical[1], strides=strides, padding=padding,
                dilation=dilation, groups=groups, relu=relu)
    expected = reference.decoded_weight_conv2d(x, w, scale, bias, **conv)
    func = decoded_weight_conv2d_prim_func(x_shape, w.shape, str(w.dtype), family=family, **conv)
    got = run_prim_func(func, target, [x, w, scale, bias], expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


@pytest.mark.parametrize("pack_bits", [8, 16, 32, 64])
def test_reference_decodes_binary_words(pack_bits):
    rng = np.random.default_rng(pack_bits)
    w, signs = make_weights(rng, "binary", (3, 37, 2, 1), pack_bits)
    np.testing.assert_array_equal(reference.decode_weights(w, "binary", 37), signs.astype(np.float64))


def test_reference_matches_direct_sum():
    rng = np.random.default_rng(5)
    w, signs = make_weights(rng, "binary", (4, 3, 2, 2), 8)
    x = rng.normal(size=(1, 6, 4, 5)).astype(np.float32)
    scale, bias = np.float32([1, 2, 0.5, 3]), np.float32([0.1, -0.2, 0.3, 0])
    got = reference.decoded_weight_conv2d(x, w, scale, bias, weight_format="binary", channels_per_group=3,
                                          padding=(1, 0, 0, 1), groups=2)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 0), (0, 1)))
    for o in range(4):
        g = o // 2
        for y in range(got.shape[2]):
            for xx in range(got.shape[3]):
                acc = np.sum(xp[0, g * 3 : g * 3 + 3, y : y + 2, xx : xx + 2] * signs[o])
                assert got[0, o, y, xx] == np.float32(acc * scale[o] + bias[o])


def test_rejects_bad_weights():
    with pytest.raises(ValueError):  # 40 channels need 5 uint8 words
        decoded_weight_conv2d_prim_func((1, 40, 4, 4), (4, 4, 1, 1), "uint8", weight_format="binary", channels_per_group=40,
                                        family=None)
    with pytest.raises(ValueError):
        decoded_weight_conv2d_prim_func((1, 8, 4, 4), (4, 8, 1, 1), "uint8", weight_format="int8", channels_per_group=8,
                                        family=None)
    with pytest.raises(ValueError):
        decoded_weight_conv2d_prim_func((1, 8, 4, 4), (4, 8, 1, 1), "int8", weight_format="ternary", channels_per_group=8,
                                        family=None)
