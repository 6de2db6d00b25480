"""int8_conv2d: TVM kernel (unscheduled and x86) bit-exact against the numpy twin, the twin against
a brute-force loop, and per-channel int8 weight quantization."""
import itertools

import numpy as np
import pytest
import tvm

from schedules.common import conv_out_size, integer_epilogue_np, normalize_padding
from schedules.int8_conv2d import reference
from schedules.int8_conv2d.kernel import int8_conv2d_prim_func
from schedules.int8_conv2d.packing import quantize_weights_int8
from tests.schedules.conftest import run_prim_func


def random_case(rng, x_shape, x_dtype, w_shape):
    lo, hi = (0, 256) if x_dtype == "uint8" else (-127, 128)
    xq = rng.integers(lo, hi, size=x_shape).astype(x_dtype)
    wq = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    scale = rng.uniform(1e-3, 1e-2, size=w_shape[0]).astype(np.float32)
    offset = rng.uniform(-300, 300, size=w_shape[0]).astype(np.float32)
    return xq, wq, scale, offset


# (x_shape, x_dtype, w_shape, strides, padding, dilation, groups, relu, family)
CASES = [
    ((1, 16, 7, 7), "uint8", (8, 4, 1, 1), (1, 1), 0, (1, 1), 4, True, "x86"),  # pointwise, grouped
    ((2, 6, 9, 11), "int8", (5, 6, 3, 3), (2, 2), 1, (1, 1), 1, False, "x86"),  # odd channels, stride 2
    ((1, 8, 10, 10), "uint8", (6, 4, 3, 3), (1, 1), (0, 1, 2, 0), (2, 1), 2, True, "x86"),  # asymmetric pad, dilation
    ((1, 12, 8, 8), "int8", (8, 3, 1, 1), (2, 2), 0, (1, 1), 4, False, "x86"),  # strided 1x1
    ((1, 16, 9, 9), "int8", (16, 4, 3, 3), (1, 1), 2, (1, 1), 4, True, "x86"),  # 3x3 groups 4, pad 2
    ((1, 8, 6, 6), "uint8", (4, 8, 3, 3), (1, 1), 2, (1, 1), 1, True, None),  # unscheduled
    ((1, 10, 5, 5), "int8", (6, 5, 3, 3), (2, 1), (1, 0, 0, 1), (1, 1), 2, False, None),  # unscheduled, odd
    ((1, 128, 28, 28), "uint8", (128, 32, 1, 1), (1, 1), 0, (1, 1), 4, False, "x86"),  # full-size tiles
    ((1, 32, 28, 28), "uint8", (32, 1, 3, 3), (1, 1), 1, (1, 1), 32, True, "x86"),  # depthwise: row vectors
    ((2, 24, 15, 15), "uint8", (24, 1, 3, 3), (2, 2), 1, (1, 1), 24, False, "x86"),  # depthwise stride 2, odd row
    ((1, 16, 7, 7), "int8", (16, 1, 5, 5), (1, 1), 2, (1, 1), 16, True, "arm"),  # depthwise 5x5, ARM family
    ((2, 24, 16, 16), "uint8", (24, 1, 3, 3), (2, 2), 1, (1, 1), 24, True, "x86"),  # stride 2, channel vectors
    ((1, 16, 14, 14), "int8", (16, 1, 5, 5), (2, 2), 2, (1, 1), 16, False, "x86"),  # 5x5 stride 2, channel vectors
    ((1, 8, 12, 12), "uint8", (8, 1, 3, 3), (2, 2), (1, 0, 1, 2), (1, 1), 8, True, "arm"),  # asymmetric, ARM
    ((1, 16, 10, 10), "uint8", (16, 1, 3, 3), (1, 1), 0, (1, 1), 16, True, "x86"),  # no pad stage: input copy
    ((1, 12, 9, 9), "uint8", (12, 1, 3, 3), (1, 1), 1, (1, 1), 12, True, "x86"),  # 12 channels: row vectors
    ((1, 8, 32, 32), "uint8", (8, 1, 3, 3), (1, 1), 1, (2, 2), 8, True, "x86"),  # long rows, dilation: row vectors
    ((1, 8, 64, 64), "int8", (8, 1, 3, 3), (2, 2), 1, (1, 1), 8, False, "x86"),  # long rows, stride 2: phases
    ((1, 8, 61, 61), "uint8", (8, 1, 5, 5), (2, 2), 2, (1, 1), 8, True, "arm"),  # odd padded row: no phases
]


@pytest.mark.parametrize("x_shape,x_dtype,w_shape,strides,padding,dilation,groups,relu,family", CASES)
def test_kernel_matches_reference(target, x_shape, x_dtype, w_shape, strides, padding, dilation, groups, relu, family):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    xq, wq, scale, offset = random_case(rng, x_shape, x_dtype, w_shape)
    conv = dict(strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu)
    expected = reference.int8_conv2d(xq, wq, scale, offset, **conv)
    func = int8_conv2d_prim_func(x_shape, x_dtype, w_shape, family=family, **conv)
    got = run_prim_func(func, target, [xq, wq, scale, offset], expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_zero_filter_gives_offset(target):
    rng = np.random.default_rng(7)
    x_shape, w_shape, groups = (1, 16, 14, 14), (32, 4, 1, 1), 4
    xq, wq, scale, offset = random_case(rng, x_shape, "uint8", w_shape)
    wq[3] = 0
    scale[3], offset[3] = 0.0, 1.5
    scale[5], offset[5] = 0.0, -2.0  # non-zero weights but scale 0: still the offset (then ReLU)
    expected = reference.int8_conv2d(xq, wq, scale, offset, groups=groups, relu=True)
    assert np.all(expected[:, 3] == np.float32(1.5)) and np.all(expected[:, 5] == 0)
    func = int8_conv2d_prim_func(x_shape, "uint8", w_shape, groups=groups, relu=True)
    got = run_prim_func(func, target, [xq, wq, scale, offset], expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_runs_inside_relax_call_tir(target):
    """int64 shapes and no global_symbol: the PrimFunc goes through call_tir, FuseOps and FuseTIR."""
    from tvm import relax

    x_shape, w_shape, groups = (1, 16, 8, 8), (8, 4, 3, 3), 4
    rng = np.random.default_rng(11)
    arrays = random_case(rng, x_shape, "uint8", w_shape)
    func = int8_conv2d_prim_func(x_shape, "uint8", w_shape, groups=groups, padding=1)
    bb = relax.BlockBuilder()
    params = [relax.Var(name, relax.TensorType(a.shape, str(a.dtype))) for name, a in zip(("x", "w", "scale", "offset"), arrays)]
    with bb.function("main", params):
        gv = bb.add_func(func, "int8_conv2d")
        with bb.dataflow():
            y = bb.emit(relax.call_tir(gv, params, relax.TensorType((1, 8, 8, 8), "float32")))
            out = bb.emit_output(relax.op.nn.relu(y))
        bb.emit_func_output(out)
    ex = tvm.compile(bb.get(), target, relax_pipeline=relax.get_default_pipeline(target))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    got = vm["main"](*[tvm.runtime.tensor(a) for a in arrays]).numpy()
    np.testing.assert_array_equal(got, reference.int8_conv2d(*arrays, groups=groups, padding=1, relu=True))


def brute_force_acc(xq, wq, strides, padding, dilation, groups):
    n, c, h, w = xq.shape
    o_n, cg, kh, kw = wq.shape
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, strides[0], top, bottom, dilation[0])
    wo = conv_out_size(w, kw, strides[1], left, right, dilation[1])
    acc = np.zeros((n, o_n, ho, wo), np.int64)
    og = o_n // groups
    for b, o, y, x in itertools.product(range(n), range(o_n), range(ho), range(wo)):
        total = 0
        for i, ky, kx in itertools.product(range(cg), range(kh), range(kw)):
            iy = y * strides[0] + ky * dilation[0] - top
            ix = x * strides[1] + kx * dilation[1] - left
            if 0 <= iy < h and 0 <= ix < w:
                total += int(xq[b, (o // og) * cg + i, iy, ix]) * int(wq[o, i, ky, kx])
        acc[b, o, y, x] = total
    return acc


@pytest.mark.parametrize("x_dtype", ["uint8", "int8"])
def test_reference_matches_brute_force(x_dtype):
    rng = np.random.default_rng(3)
    xq, wq, scale, offset = random_case(rng, (2, 6, 7, 6), x_dtype, (4, 3, 3, 2))
    conv = dict(strides=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2), groups=2)
    acc = brute_force_acc(xq, wq, **conv)
    np.testing.assert_array_equal(reference.int8_accumulate(xq, wq, **conv), acc)
    np.testing.assert_array_equal(
        reference.int8_conv2d(xq, wq, scale, offset, relu=True, **conv),
        integer_epilogue_np(acc, scale, offset, relu=True),
    )


def test_quantize_weights_int8():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 4, 3, 3)).astype(np.float32)
    w[2] = 0.0
    w[4] *= 1e-3
    wq, ws = quantize_weights_int8(w)
    assert wq.dtype == np.int8 and ws.dtype == np.float32 and ws.shape == (6,)
    assert ws[2] == 0 and np.all(wq[2] == 0)
    nz = ws > 0
    np.testing.assert_allclose(ws[nz], np.abs(w[nz]).reshape(int(nz.sum()), -1).max(axis=1) / 127, rtol=1e-6)
    assert np.abs(wq).max() <= 127
    assert np.all(np.abs(wq).reshape(6, -1).max(axis=1)[nz] == 127)
    err = np.abs(wq.astype(np.float32) * ws.reshape(-1, 1, 1, 1) - w)
    assert np.all(err <= ws.reshape(-1, 1, 1, 1) / 2 * (1 + 1e-5))
    np.testing.assert_array_equal(wq[nz], np.clip(np.rint(w[nz] / ws[nz].reshape(-1, 1, 1, 1)), -127, 127))


def test_rejects_bad_inputs():
    with pytest.raises(ValueError):
        int8_conv2d_prim_func((1, 8, 4, 4), "float32", (4, 8, 1, 1), family=None)
    with pytest.raises(ValueError):
        int8_conv2d_prim_func((1, 8, 4, 4), "uint8", (4, 3, 1, 1), groups=2, family=None)
    with pytest.raises(KeyError):
        int8_conv2d_prim_func((1, 8, 4, 4), "uint8", (4, 8, 1, 1), knobs={"tile_q": 4})


# pointwise vpmaddwd kernel (schedules.int8_conv2d.channel_words, vpmaddwd pairs): (x_shape, x_dtype, w_shape, strides,
# groups, relu, knobs)
PAIR_CASES = [
    ((1, 64, 7, 7), "uint8", (40, 16, 1, 1), (1, 1), 4, True, {"algorithm": "words"}),  # 49 pixels: ragged last vector
    ((1, 50, 14, 14), "int8", (20, 25, 1, 1), (1, 1), 2, False, {}),  # odd Cg, int8 activations
    ((2, 24, 9, 10), "uint8", (12, 24, 1, 1), (2, 2), 1, True, {}),  # strided 1x1, batch 2
    ((1, 12, 5, 5), "int8", (8, 3, 1, 1), (1, 1), 4, False, {"algorithm": "words"}),  # tiny odd groups, forced
    ((1, 96, 14, 14), "uint8", (96, 24, 1, 1), (1, 1), 4, True, {"pair_tile_p": 3, "pair_tile_o": 8, "pair_unroll": 4}),
]


@pytest.mark.parametrize("prepacked", [False, True])
@pytest.mark.parametrize("x_shape,x_dtype,w_shape,strides,groups,relu,knobs", PAIR_CASES)
def test_pairs_kernel_matches_reference(target, x_shape, x_dtype, w_shape, strides, groups, relu, knobs, prepacked):
    from schedules.int8_conv2d.kernel import int8_conv2d_weight_plan
    from schedules.int8_conv2d.packing import prepare_weights

    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    xq, wq, scale, offset = random_case(rng, x_shape, x_dtype, w_shape)
    scale[1], offset[1] = 0.0, 2.5
    conv = dict(strides=strides, groups=groups, relu=relu)
    plan = int8_conv2d_weight_plan(x_shape, w_shape, strides=strides, groups=groups, knobs=knobs)
    assert plan is not None and plan["layout"] == "pairs"
    expected = reference.int8_conv2d(xq, wq, scale, offset, **conv)
    func = int8_conv2d_prim_func(x_shape, x_dtype, w_shape, knobs=knobs, prepacked=prepacked, **conv)
    w_arg = prepare_weights(wq, plan) if prepacked else wq
    got = run_prim_func(func, target, [xq, w_arg, scale, offset], expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_weight_plan_choice():
    from schedules.int8_conv2d.kernel import int8_conv2d_weight_plan
    from schedules.int8_conv2d.packing import prepare_weights

    assert int8_conv2d_weight_plan((1, 640, 7, 7), (1000, 640, 1, 1))["layout"] == "pairs"
    assert int8_conv2d_weight_plan((1, 64, 56, 56), (64, 16, 1, 1), groups=4) is None  # Cg 16: direct
    assert int8_conv2d_weight_plan((1, 64, 8, 8), (64, 64, 3, 3)) is None  # kxk: direct
    assert int8_conv2d_weight_plan((1, 64, 8, 8), (64, 64, 1, 1), padding=1) is None
    assert int8_conv2d_weight_plan((1, 640, 7, 7), (1000, 640, 1, 1), knobs={"algorithm": "direct"}) is None
    assert int8_conv2d_weight_plan((1, 640, 7, 7), (1000, 640, 1, 1), family=None) is None
    wq = np.arange(-30, 30, dtype=np.int8).reshape(4, 15, 1, 1)
    wk = prepare_weights(wq, {"layout": "pairs", "tile_o": 2})
    assert wk.dtype == np.int32 and wk.shape == (2, 8, 2)
    lo = (wk.astype(np.int64) & 0xFFFF).astype(np.uint16).view(np.int16)
    hi = (wk >> 16).astype(np.int16)
    assert lo[1, 3, 1] == wq[3, 6, 0, 0] and hi[1, 3, 1] == wq[3, 7, 0, 0] and hi[0, 7, 0] == 0
    assert prepare_weights(wq, None) is wq or np.array_equal(prepare_weights(wq, None), wq)


# fused epilogue / prologue: (x_shape, x_dtype, w_shape, strides, padding, groups, relu, quantize)
FUSED_CASES = [
    ((1, 64, 7, 7), "uint8", (40, 16, 1, 1), (1, 1), 0, 4, True, False),  # tiled kernel + residual
    ((1, 10, 9, 9), "int8", (6, 5, 3, 3), (2, 2), 1, 2, False, False),  # 3x3 odd channels, stride 2
    ((1, 96, 14, 14), "uint8", (96, 24, 1, 1), (1, 1), 0, 4, True, True),  # pairs: quantize + residual
    ((1, 50, 9, 9), "int8", (20, 25, 1, 1), (2, 2), 0, 2, False, True),  # pairs, odd Cg, signed, strided
]


@pytest.mark.parametrize("x_shape,x_dtype,w_shape,strides,padding,groups,relu,quantize", FUSED_CASES)
def test_fused_residual_and_quantize_match_reference(target, x_shape, x_dtype, w_shape, strides, padding, groups, relu, quantize):
    """A residual operand is added before the ReLU; with ``quantize`` the pairs kernel takes float
    activations and quantizes them as ``schedules.quantize`` does (bit-exact to quantize + conv)."""
    from schedules.int8_conv2d.kernel import fuses_quantize, int8_conv2d_weight_plan
    from schedules.int8_conv2d.packing import prepare_weights
    from schedules.quantize.reference import quantize as quantize_ref

    rng = np.random.default_rng(sum(x_shape) + 5)
    _, wq, scale, offset = random_case(rng, x_shape, x_dtype, w_shape)
    lo, hi = (0, 255) if x_dtype == "uint8" else (-127, 127)
    x = (rng.standard_normal(x_shape) * 40).astype(np.float32)
    inv = np.float32(1.7)
    xq = quantize_ref(x, inv, lo, hi, x_dtype)
    conv = dict(strides=strides, padding=padding, groups=groups)
    plan = int8_conv2d_weight_plan(x_shape, w_shape, **conv)
    assert fuses_quantize(plan) == quantize
    ho = conv_out_size(x_shape[2], w_shape[2], strides[0], padding, padding)
    wo = conv_out_size(x_shape[3], w_shape[3], strides[1], padding, padding)
    residual = rng.standard_normal((1, w_shape[0], ho, wo)).astype(np.float32) * 3
    expected = reference.int8_conv2d(xq, wq, scale, offset, relu=relu, residual=residual, **conv)
    plain = reference.int8_conv2d(xq, wq, scale, offset, **conv)
    want = plain + residual
    np.testing.assert_array_equal(expected, np.maximum(want, 0) if relu else want)
    func = int8_conv2d_prim_func(x_shape, x_dtype, w_shape, relu=relu, residual=True, prepacked=True,
                                 quantize=(lo, hi) if quantize else None, **conv)
    inputs = [x if quantize else xq, prepare_weights(wq, plan), scale, offset]
    inputs += [np.array([inv], np.float32)] if quantize else []
    got = run_prim_func(func, target, inputs + [residual], expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_unfusable_quantize_is_refused():
    with pytest.raises(ValueError, match="does not fuse the input quantization"):
        int8_conv2d_prim_func((1, 8, 6, 6), "uint8", (4, 8, 3, 3), quantize=(0, 255))


def test_strided_depthwise_reads_a_phase_copy_of_the_padded_input():
    """Stride 2 with long rows and an even padded row: the conv reads a copy of ``pad`` in two column phases."""
    func = int8_conv2d_prim_func((1, 8, 64, 64), "uint8", (8, 1, 3, 3), strides=(2, 2), padding=1, groups=8)
    assert "pad_global = T.sblock_alloc_buffer((T.int64(1), T.int64(8), T.int64(66), T.int64(2), T.int64(33))" in func.script()
    odd = int8_conv2d_prim_func((1, 8, 63, 63), "uint8", (8, 1, 3, 3), strides=(2, 2), padding=1, groups=8)
    assert "pad_global" not in odd.script()  # padded row of 65: no phases


def test_short_depthwise_rows_store_the_input_channel_blocked():
    """Rows up to 14 outputs and channels in whole vectors: input and accumulators channel-innermost."""
    text = int8_conv2d_prim_func((1, 24, 14, 14), "uint8", (24, 1, 3, 3), padding=1, groups=24).script()
    assert 'pad = T.sblock_alloc_buffer((T.int64(1), T.int64(3), T.int64(16), T.int64(16), T.int64(8)), "uint8")' in text
    assert 'acc = T.sblock_alloc_buffer((T.int64(1), T.int64(3), T.int64(14), T.int64(14), T.int64(8)), "int32")' in text
    long_rows = int8_conv2d_prim_func((1, 24, 28, 28), "uint8", (24, 1, 3, 3), padding=1, groups=24).script()
    assert 'pad = T.sblock_alloc_buffer((T.int64(1), T.int64(24), T.int64(30), T.int64(30)), "uint8")' in long_rows
