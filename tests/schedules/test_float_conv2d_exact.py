"""float_conv2d_exact: TVM kernel (unscheduled and x86) bit for bit against the float64 numpy twin."""
import numpy as np
import pytest

from schedules.families import feature_knobs
from schedules.float_conv2d_exact import reference
from schedules.float_conv2d_exact.kernel import float_conv2d_exact_prim_func
from tests.schedules.conftest import run_prim_func
from tvm_sepnet.targets import get_target, host_cpu_flags

# (x_shape, w_shape, strides, padding, dilation, groups, relu, family)
CASES = [
    ((1, 3, 32, 32), (16, 3, 3, 3), (2, 2), 1, (1, 1), 1, True, "x86"),  # a first conv
    ((2, 16, 12, 12), (8, 4, 3, 3), (1, 1), (1, 0, 0, 1), (1, 1), 4, False, "x86"),  # groups 4, asymmetric pad
    ((1, 6, 11, 9), (5, 6, 3, 3), (1, 2), 2, (2, 2), 1, True, "x86"),  # odd O, dilation
    ((1, 32, 7, 7), (24, 16, 1, 1), (1, 1), 0, (1, 1), 2, False, "x86"),  # pointwise
    ((1, 6, 12, 12), (5, 6, 3, 3), (1, 1), 2, (2, 2), 1, True, None),  # unscheduled
    ((1, 16, 14, 14), (16, 1, 3, 3), (2, 2), 1, (1, 1), 16, True, "x86"),  # depthwise: row vectors
    ((1, 8, 11, 11), (8, 1, 5, 5), (2, 2), 2, (1, 1), 8, False, "x86"),  # depthwise 5x5 stride 2, channel vectors
    ((2, 4, 36, 36), (4, 1, 3, 3), (2, 2), 1, (1, 1), 4, True, "x86"),  # depthwise, long rows: row vectors, phases
]


@pytest.mark.parametrize("x_shape,w_shape,strides,padding,dilation,groups,relu,family", CASES)
def test_kernel_matches_reference_bit_for_bit(target, x_shape, w_shape, strides, padding, dilation, groups, relu, family):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    x = rng.normal(size=x_shape).astype(np.float32)
    w = rng.normal(size=w_shape).astype(np.float32)
    bias = rng.normal(size=w_shape[0]).astype(np.float32)
    conv = dict(strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu)
    expected = reference.float_conv2d_exact(x, w, bias, **conv)
    func = float_conv2d_exact_prim_func(x_shape, w_shape, family=family, **conv)
    got = run_prim_func(func, target, [x, w, bias], expected.shape)
    np.testing.assert_array_equal(got, expected)


def test_reference_rounds_once():
    # 1 + 2^-24 + 2^-24: float32 accumulation gives 1 (each 2^-24 is a tie to even), float64 gives
    # 1 + 2^-23 exactly, which is a float32.
    x = np.float32([1.0, 2.0**-24, 2.0**-24]).reshape(1, 3, 1, 1)
    w = np.ones((1, 3, 1, 1), np.float32)
    got = reference.float_conv2d_exact(x, w, np.zeros(1, np.float32))
    assert got[0, 0, 0, 0] == np.float32(1 + 2.0**-23)
    relu = reference.float_conv2d_exact(-x, w, np.zeros(1, np.float32), relu=True)
    assert relu[0, 0, 0, 0] == 0


def test_kernel_rounds_once(target):
    x = np.float32([1.0, 2.0**-24, 2.0**-24, -(2.0**-30)]).reshape(1, 4, 1, 1)
    w = np.ones((2, 4, 1, 1), np.float32)
    bias = np.float32([0.0, 2.0**-30])
    func = float_conv2d_exact_prim_func(x.shape, w.shape)
    got = run_prim_func(func, target, [x, w, bias], (1, 2, 1, 1))
    np.testing.assert_array_equal(got, reference.float_conv2d_exact(x, w, bias))
    assert got[0, 1, 0, 0] == np.float32(1 + 2.0**-23)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        float_conv2d_exact_prim_func((1, 6, 4, 4), (4, 4, 3, 3), groups=2, family=None)


@pytest.mark.skipif("avx512f" not in host_cpu_flags(), reason="the AVX-512 knobs need avx512f on this host")
@pytest.mark.parametrize("x_shape,w_shape,strides,padding,dilation,groups,relu,family", CASES[:4])
def test_avx512_knobs_match_reference_bit_for_bit(target, x_shape, w_shape, strides, padding, dilation, groups, relu,
                                                  family):
    knobs = feature_knobs("float_conv2d_exact", "x86", host_cpu_flags(), 8)
    assert knobs["vector_bits"] == 512
    rng = np.random.default_rng(sum(x_shape) + 1)
    x = rng.normal(size=x_shape).astype(np.float32)
    w = rng.normal(size=w_shape).astype(np.float32)
    bias = rng.normal(size=w_shape[0]).astype(np.float32)
    conv = dict(strides=strides, padding=padding, dilation=dilation, groups=groups, relu=relu)
    expected = reference.float_conv2d_exact(x, w, bias, **conv)
    func = float_conv2d_exact_prim_func(x_shape, w_shape, family=family, knobs=knobs, **conv)
    np.testing.assert_array_equal(run_prim_func(func, target, [x, w, bias], expected.shape), expected)


def test_feature_knobs_only_for_x86_code_that_may_use_avx512():
    assert feature_knobs("float_conv2d_exact", "x86", get_target("x86-avx512").features, 64)["vector_bits"] == 512
    assert feature_knobs("float_conv2d_exact", "x86", get_target("x86-avx512").features, 1) == {}  # depthwise
    assert feature_knobs("float_conv2d_exact", "x86", get_target("x86-avx2").features, 64) == {}
    assert feature_knobs("float_conv2d_exact", "arm", {"avx512f"}, 64) == {}
    assert feature_knobs("int8_conv2d", "x86", {"avx512f"}, 64) == {}
