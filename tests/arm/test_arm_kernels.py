"""ARM kernels (arm64, armv7) cross-compiled with Debian's cross compilers and run under qemu-user
pinned to the preset's core, through the C kernel loader: bit-exact against the numpy references.
A kernel using an extension the pinned core lacks (sdot on a Cortex-A72) must die, and does."""
import numpy as np
import pytest
from tvm.script import tirx as T

from schedules.bitserial_conv2d import reference as bitserial_ref
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from schedules.float_dense_exact import reference as dense_ref
from schedules.float_dense_exact.kernel import float_dense_exact_prim_func, float_dense_exact_tile
from schedules.float_dense_exact.packing import pack_dense_weights
from schedules.int8_conv2d import reference as int8_ref
from schedules.int8_conv2d.kernel import int8_conv2d_prim_func
from schedules.quantize import reference as quantize_ref
from schedules.quantize.kernel import quantize_bitpack_im2col_prim_func
from tests.schedules.test_bitserial_conv2d import _problem
from tests.schedules.test_int8_conv2d import random_case
from tests.schedules.test_xnor_conv2d import KERNEL_CASES as XNOR_KERNEL_CASES
from tvm_sepnet.device.emulation import EmulationError, run_kernel
from tvm_sepnet.targets import get_target

ARM = ["arm64", "armv7"]


@pytest.mark.parametrize("name", ARM)
def test_bitserial_conv2d_with_residual(name):
    preset = get_target(name)
    rng = np.random.default_rng(1)
    _, _, xcol, wk, scale, offset = _problem(rng, 1, 64, 9, 11, 32, 3, 4, 2, 64, padding=1)
    n, _, ho, _, _, wo = xcol.shape
    res = rng.standard_normal((n, 32, ho, wo)).astype(np.float32)
    expected = bitserial_ref.bitserial_conv2d(xcol, wk, scale, offset, relu=True, residual=res)
    func = bitserial_conv2d_prim_func(xcol.shape, wk.shape, "uint64", relu=True, residual=True, family=preset.family)
    (got,) = run_kernel(func, preset, [xcol, wk, scale, offset, res], [(expected.shape, "float32")])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ARM)
@pytest.mark.parametrize("x_shape,x_dtype,w_shape,padding,groups,stride", [
    ((1, 64, 14, 14), "uint8", (64, 16, 1, 1), 0, 4, 1),  # the PRB 1x1
    ((1, 256, 7, 7), "uint8", (64, 64, 1, 1), 0, 4, 1),  # a SEP reduce (x86 uses the pairs kernel here)
    ((1, 10, 9, 9), "int8", (6, 5, 3, 3), 1, 2, 2),  # odd channels, 3x3, stride 2, padding
    ((1, 24, 16, 16), "uint8", (24, 1, 3, 3), 1, 24, 2),  # depthwise stride 2: channel vectors
    ((1, 8, 64, 64), "uint8", (8, 1, 3, 3), 1, 8, 2),  # depthwise, long rows, stride 2: column phases
])
def test_int8_conv2d(name, x_shape, x_dtype, w_shape, padding, groups, stride):
    preset = get_target(name)
    rng = np.random.default_rng(2)
    xq, wq, scale, offset = random_case(rng, x_shape, x_dtype, w_shape)
    geo = dict(strides=(stride, stride), padding=padding, groups=groups)
    expected = int8_ref.int8_conv2d(xq, wq, scale, offset, relu=True, **geo)
    func = int8_conv2d_prim_func(x_shape, x_dtype, w_shape, relu=True, family=preset.family, **geo)
    (got,) = run_kernel(func, preset, [xq, wq, scale, offset], [(expected.shape, "float32")])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ARM)
def test_quantize_bitpack_im2col(name):
    preset = get_target(name)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1, 32, 10, 10)) * 3).astype(np.float32)
    inv = np.array([2.5], np.float32)
    geo = dict(kernel=(3, 3), strides=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1))
    expected = quantize_ref.quantize_bitpack_im2col(x, inv[0], bits=2, groups=4, pack_bits=64, **geo)
    func = quantize_bitpack_im2col_prim_func(x.shape, bits=2, groups=4, pack_bits=64, family=preset.family, **geo)
    (got,) = run_kernel(func, preset, [x, inv], [(expected.shape, str(expected.dtype))])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ARM)
def test_float_dense_exact(name):
    """A classifier (float64 sums, one rounding; 1000 columns padded to whole tiles)."""
    preset = get_target(name)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 96)).astype(np.float32)
    w = rng.standard_normal((96, 1000)).astype(np.float32)
    bias = rng.standard_normal(1000).astype(np.float32)
    expected = dense_ref.float_dense_exact(x, w, bias)
    func = float_dense_exact_prim_func(x.shape, 1000, family=preset.family)
    wp = pack_dense_weights(w, float_dense_exact_tile(1000, preset.family))
    (got,) = run_kernel(func, preset, [x, wp, bias], [(expected.shape, "float32")])
    np.testing.assert_array_equal(got, expected)


def _sdot_kernel():
    @T.prim_func(private=True)
    def sdot(a: T.Buffer((16,), "int8"), b: T.Buffer((16,), "int8"), c: T.Buffer((4,), "int32")):
        c[T.ramp(0, 1, 4)] = T.call_llvm_pure_intrin(
            "int32x4", "llvm.aarch64.neon.sdot.v4i32.v16i8", T.broadcast(T.int32(0), 4),
            a[T.ramp(0, 1, 16)], b[T.ramp(0, 1, 16)])

    return sdot


def test_extension_outside_the_pinned_core_fails():
    """sdot (+dotprod) runs on a pinned Cortex-A76 and dies with SIGILL on a pinned Cortex-A72."""
    preset = get_target("arm64-dotprod")
    rng = np.random.default_rng(4)
    a, b = (rng.integers(-128, 128, 16).astype(np.int8) for _ in range(2))
    expected = (a.astype(np.int32) * b.astype(np.int32)).reshape(4, 4).sum(axis=1)
    (got,) = run_kernel(_sdot_kernel(), preset, [a, b], [((4,), "int32")])
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(EmulationError, match="signal 4"):  # SIGILL
        run_kernel(_sdot_kernel(), preset, [a, b], [((4,), "int32")], cpu="cortex-a72")


# sdot channel-word kernel (arm64-dotprod, pinned Cortex-A76): (x_shape, x_dtype, w_shape, strides, groups, quantize, residual)
SDOT_CASES = [
    ((1, 64, 14, 14), "uint8", (64, 16, 1, 1), (1, 1), 4, False, False),  # the PRB 1x1: uint8 shifted by 128
    ((1, 50, 7, 7), "int8", (20, 25, 1, 1), (1, 1), 2, False, True),  # Cg 25: ragged last word, signed, residual
    ((2, 96, 9, 10), "uint8", (12, 96, 1, 1), (2, 2), 1, True, False),  # strided, batch 2, quantize fused
    ((1, 256, 7, 7), "uint8", (64, 64, 1, 1), (1, 1), 4, True, True),  # a SEP reduce, both fusions
]


@pytest.mark.parametrize("x_shape,x_dtype,w_shape,strides,groups,quantize,residual", SDOT_CASES)
@pytest.mark.parametrize("prepacked", [True, False])
def test_sdot_int8_conv2d(x_shape, x_dtype, w_shape, strides, groups, quantize, residual, prepacked):
    """The quads kernel (sdot on int8 words; uint8 enters as x - 128 with the weight-sum correction)
    is bit-exact with the numpy reference, weights prepacked on the host or repacked by the kernel."""
    from schedules.int8_conv2d.kernel import fuses_quantize, int8_conv2d_weight_plan
    from schedules.int8_conv2d.packing import prepare_weights

    preset = get_target("arm64-dotprod")
    rng = np.random.default_rng(sum(x_shape) + 11)
    xq, wq, scale, offset = random_case(rng, x_shape, x_dtype, w_shape)
    wq[0] = 127  # extreme filters: the shift correction is at its largest
    wq[1] = -127
    geo = dict(strides=strides, groups=groups)
    plan = int8_conv2d_weight_plan(x_shape, w_shape, family=preset.family, **geo)
    assert plan["layout"] == "quads" and fuses_quantize(plan)
    lo, hi = (0, 255) if x_dtype == "uint8" else (-127, 127)
    inv = np.array([1.7], np.float32)
    if quantize:
        x = (rng.standard_normal(x_shape) * 60 + (100 if x_dtype == "uint8" else 0)).astype(np.float32)
        xq = quantize_ref.quantize(x, inv[0], lo, hi, x_dtype)
    ho, wo = -(-x_shape[2] // strides[0]), -(-x_shape[3] // strides[1])
    res = rng.standard_normal((x_shape[0], w_shape[0], ho, wo)).astype(np.float32) * 3
    expected = int8_ref.int8_conv2d(xq, wq, scale, offset, relu=True, residual=res if residual else None, **geo)
    func = int8_conv2d_prim_func(x_shape, x_dtype, w_shape, relu=True, family=preset.family, prepacked=prepacked,
                                 quantize=(lo, hi) if quantize else None, residual=residual, **geo)
    args = [x if quantize else xq, prepare_weights(wq, plan) if prepacked else wq, scale, offset]
    args += [inv] if quantize else []
    args += [res] if residual else []
    (got,) = run_kernel(func, preset, args, [(expected.shape, "float32")])
    np.testing.assert_array_equal(got, expected)


def test_sdot_kernel_dies_without_dotprod():
    """The arm64-dotprod int8 1x1 kernel really uses sdot: on a pinned Cortex-A72 (no dotprod) it dies
    with SIGILL, while the plain arm64 kernel of the same conv runs there."""
    rng = np.random.default_rng(5)
    x_shape, w_shape = (1, 64, 8, 8), (32, 64, 1, 1)
    xq, wq, scale, offset = random_case(rng, x_shape, "uint8", w_shape)
    expected = int8_ref.int8_conv2d(xq, wq, scale, offset)
    dot = int8_conv2d_prim_func(x_shape, "uint8", w_shape, family="arm_dotprod")
    with pytest.raises(EmulationError, match="signal 4"):  # SIGILL
        run_kernel(dot, get_target("arm64-dotprod"), [xq, wq, scale, offset], [(expected.shape, "float32")], cpu="cortex-a72")
    plain = int8_conv2d_prim_func(x_shape, "uint8", w_shape, family="arm")
    (got,) = run_kernel(plain, get_target("arm64"), [xq, wq, scale, offset], [(expected.shape, "float32")])
    np.testing.assert_array_equal(got, expected)


# XNOR + popcount sign layers (NEON cnt) under qemu on the presets' pinned cores
# every KERNEL_CASE of tests/schedules/test_xnor_conv2d.py: odd channels, stride 2, padding 0/1 and TF SAME with
# both pad values, groups 1/2/3/4/5, ReLU, residual, float / bits inputs and outputs
XNOR_ARM_CASES = range(len(XNOR_KERNEL_CASES))


@pytest.mark.parametrize("name", ARM)
@pytest.mark.parametrize("index", XNOR_ARM_CASES)
def test_xnor_conv2d(name, index):
    from schedules.bit_layout import from_bits
    from schedules.word_layout import Domain
    from schedules.xnor_conv2d.kernel import output_dtype, output_shape
    from schedules.xnor_conv2d.reference import sign
    from tests.schedules.test_xnor_conv2d import KERNEL_CASES, _run, tile_o_of

    case = KERNEL_CASES[index]
    func, args, want, (n, o, ho, wo, outputs) = _run(case, "neon", tile_o=tile_o_of(case), tile_p=2)
    got = run_kernel(func, get_target(name), args, [(output_shape(s, n, o, ho, wo), output_dtype(s)) for s in outputs])
    for spec, g in zip(outputs, got):
        if spec == "f32":
            np.testing.assert_array_equal(g, want)
        else:
            np.testing.assert_array_equal(from_bits(g, Domain(n, ho, wo, spec[1]), o, o // spec[2]), sign(want))
