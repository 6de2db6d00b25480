"""word_max_pool2d against its numpy twin (pooling NCHW codes), the twin against pooling in float32 and
quantizing after (the commutation the integer dataflow relies on), and the output domain's halo."""
import numpy as np
import pytest
import tvm

from schedules.quantize.reference import quantize
from schedules.word_layout import Domain, from_words, to_words
from schedules.word_max_pool2d.kernel import word_max_pool2d_prim_func
from schedules.word_max_pool2d.reference import max_pool_codes, pool_out_size
from tvm_sepnet.targets import host_mcpu

CASES = [  # n, c, h, w, pool, strides, padding, pad_in, pad_out
    (1, 8, 8, 8, (2, 2), (2, 2), (0, 0, 0, 0), 1, 1),
    (2, 12, 7, 9, (3, 3), (2, 2), (1, 1, 1, 1), 1, 0),
    (1, 4, 56, 56, (2, 2), (2, 2), (0, 0, 0, 0), 0, 1),
    (1, 4, 9, 9, (3, 3), (1, 1), (0, 0, 0, 0), 2, 2),
    (1, 8, 2, 2, (2, 2), (2, 2), (0, 0, 0, 0), 0, 1),  # one output pixel: scalar words
]


@pytest.mark.parametrize("n,c,h,w,pool,strides,padding,pad_in,pad_out", CASES)
def test_kernel_matches_reference(n, c, h, w, pool, strides, padding, pad_in, pad_out):
    q = np.random.default_rng(h * w + c).integers(0, 256, (n, c, h, w)).astype(np.uint8)
    ho, wo = pool_out_size(h, w, pool, strides, padding, False)
    f = word_max_pool2d_prim_func(n=n, r=c // 4, h=h, w=w, pad_in=pad_in, ho=ho, wo=wo, pad_out=pad_out, pool=pool,
                                  strides=strides, padding=padding)
    lib = tvm.compile(tvm.IRModule({"main": f.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2}))
    d_in, d_out = Domain(n, h, w, pad_in), Domain(n, ho, wo, pad_out)
    out = tvm.runtime.tensor(np.full((n, c // 4, d_out.length), 0x4D4D4D4D, np.int32))  # garbage everywhere
    lib["main"](tvm.runtime.tensor(to_words(q, d_in)), out)
    rows = out.numpy()
    np.testing.assert_array_equal(from_words(rows, d_out), max_pool_codes(q, pool, strides, padding))
    assert np.all(rows[:, :, :d_out.pad + pad_out * d_out.wp] == 0)  # guard and top halo
    plane = rows[:, :, d_out.pad:d_out.pad + d_out.q].reshape(n, c // 4, d_out.hp, d_out.wp)
    if pad_out:
        assert np.all(plane[:, :, :, :pad_out] == 0) and np.all(plane[:, :, :, -pad_out:] == 0)
        assert np.all(plane[:, :, -pad_out:] == 0)


def test_padding_beyond_the_halo_is_refused():
    with pytest.raises(ValueError, match="halo"):
        word_max_pool2d_prim_func(n=1, r=1, h=8, w=8, pad_in=0, ho=4, wo=4, pad_out=0, pool=(3, 3), strides=(2, 2),
                                  padding=(1, 1, 1, 1))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pooling_codes_is_quantizing_pooled_floats(bits):
    x = np.random.default_rng(bits).standard_normal((1, 8, 11, 11)).astype(np.float32) * 3
    inv = np.float32(1 / 0.37)
    pooled = np.full((1, 8, 5, 5), -np.inf, np.float32)
    for ky in range(3):
        for kx in range(3):
            pooled = np.maximum(pooled, x[:, :, ky:ky + 9:2, kx:kx + 9:2])
    want = quantize(pooled, inv, 0, 2 ** bits - 1, np.uint8)
    got = max_pool_codes(quantize(x, inv, 0, 2 ** bits - 1, np.uint8), (3, 3), (2, 2))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("h,w,pool,strides,padding,bits", [(112, 112, (3, 3), (2, 2), (1, 1, 1, 1), 8),
                                                            (9, 7, (2, 2), (2, 2), (0, 0, 0, 0), 4),
                                                            (8, 8, (3, 3), (2, 2), (1, 1, 1, 1), 2)])
def test_float_input_is_pooled_then_quantized(h, w, pool, strides, padding, bits):
    """A float input (a float layer's output) pooled in float with -inf padding, then quantized with the
    consumer's unsigned quantizer: what the reference does; the kernel quantizes first and pools codes."""
    n, c = 1, 8
    x = (np.random.default_rng(h).standard_normal((n, c, h, w)) * 2).astype(np.float32)
    inv = np.float32(1 / 0.013)
    ho, wo = pool_out_size(h, w, pool, strides, padding, False)
    top, left = padding[0], padding[1]
    xp = np.full((n, c, h + 2 * top + pool[0], w + 2 * left + pool[1]), -np.inf, np.float32)
    xp[:, :, top:top + h, left:left + w] = x
    pooled = np.full((n, c, ho, wo), -np.inf, np.float32)
    for ky in range(pool[0]):
        for kx in range(pool[1]):
            pooled = np.maximum(pooled, xp[:, :, ky:ky + strides[0] * (ho - 1) + 1:strides[0],
                                              kx:kx + strides[1] * (wo - 1) + 1:strides[1]])
    want = quantize(pooled, inv, 0, 2 ** bits - 1, np.uint8)
    f = word_max_pool2d_prim_func(n=n, r=c // 4, h=h, w=w, pad_in=0, ho=ho, wo=wo, pad_out=1, pool=pool, strides=strides,
                                  padding=padding, in_quantizer=(0, 2 ** bits - 1))
    lib = tvm.compile(tvm.IRModule({"main": f.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2}))
    d_out = Domain(n, ho, wo, 1)
    out = tvm.runtime.tensor(np.full((n, c // 4, d_out.length), -1, np.int32))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(np.array([inv], np.float32)), out)
    np.testing.assert_array_equal(from_words(out.numpy(), d_out), want)


def test_float_input_needs_an_unsigned_quantizer():
    with pytest.raises(ValueError, match="unsigned"):
        word_max_pool2d_prim_func(n=1, r=1, h=8, w=8, pad_in=0, ho=4, wo=4, pad_out=0, pool=(2, 2), strides=(2, 2),
                                  padding=(0, 0, 0, 0), in_quantizer=(-127, 127))
