"""float_dense_exact: TVM kernel (unscheduled, x86, ARM knobs) bit for bit against the float64 numpy twin,
and the weight packing against its layout."""
import numpy as np
import pytest

from schedules.float_dense_exact import reference
from schedules.float_dense_exact.kernel import float_dense_exact_prim_func, float_dense_exact_tile
from schedules.float_dense_exact.packing import dense_tile, pack_dense_weights
from tests.schedules.conftest import run_prim_func

# (P, K, M, family, knobs)
CASES = [
    (1, 576, 1024, "x86", None),  # MobileNet-v3-small's first classifier layer
    (1, 512, 1000, "x86", None),  # 1000 classes: padded to whole tiles
    (3, 64, 10, "x86", None),  # narrow: one tile of 12 columns
    (5, 7, 33, "x86", {"tile_m": 8}),  # odd K, ragged last tile
    (2, 48, 20, "arm", None),  # ARM knobs (128-bit registers), compiled for the host here
    (4, 9, 6, None, None),  # unscheduled
]


def _case(rng, p, k, m):
    x = rng.normal(size=(p, k)).astype(np.float32)
    w = rng.normal(size=(k, m)).astype(np.float32)
    return x, w, rng.normal(size=m).astype(np.float32)


@pytest.mark.parametrize("p,k,m,family,knobs", CASES)
def test_kernel_matches_reference_bit_for_bit(target, p, k, m, family, knobs):
    x, w, bias = _case(np.random.default_rng(p + k + m), p, k, m)
    expected = reference.float_dense_exact(x, w, bias)
    func = float_dense_exact_prim_func((p, k), m, family=family, knobs=knobs)
    wp = pack_dense_weights(w, float_dense_exact_tile(m, family, knobs))
    np.testing.assert_array_equal(run_prim_func(func, target, [x, wp, bias], (p, m)), expected)


def test_kernel_rounds_once(target):
    # 1 + 2^-24 + 2^-24: float32 accumulation gives 1, float64 gives 1 + 2^-23 exactly
    x = np.float32([[1.0, 2.0**-24, 2.0**-24, -(2.0**-30)]])
    w = np.ones((4, 2), np.float32)
    bias = np.float32([0.0, 2.0**-30])
    got = run_prim_func(float_dense_exact_prim_func(x.shape, 2), target,
                        [x, pack_dense_weights(w, float_dense_exact_tile(2)), bias], (1, 2))
    np.testing.assert_array_equal(got, reference.float_dense_exact(x, w, bias))
    assert got[0, 0] == np.float32(1 + 2.0**-23) and got[0, 1] == np.float32(1 + 2.0**-23)


def test_packing_layout_and_tiles():
    w = np.arange(3 * 10, dtype=np.float32).reshape(3, 10)
    wp = pack_dense_weights(w, 4)
    assert wp.shape == (3, 3, 4)
    for m in range(12):
        for k in range(3):
            assert wp[m // 4, k, m % 4] == (w[k, m] if m < 10 else 0)
    assert dense_tile(1000, 32, 4) == 32 and dense_tile(10, 32, 4) == 12 and dense_tile(3, 32, 2) == 4


def test_rejects_mismatched_weights():
    from tvm import te

    from schedules.float_dense_exact.compute import float_dense_exact

    x = te.placeholder((1, 8), "float32")
    with pytest.raises(ValueError, match="features"):
        float_dense_exact(x, te.placeholder((2, 7, 4), "float32"), te.placeholder((8,), "float32"))
    with pytest.raises(ValueError, match="packed weight columns"):
        float_dense_exact(x, te.placeholder((2, 8, 4), "float32"), te.placeholder((9,), "float32"))
