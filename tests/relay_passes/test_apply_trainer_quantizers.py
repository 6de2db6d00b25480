"""ApplyTrainerQuantizers' weight rules against numpy written from its docstring: the trainer's codes and
step survive a batch-norm factor; weights off the trainer's grid are an error naming the layer."""
import numpy as np
import pytest

from relay_passes.apply_trainer_quantizers import trainer_binary, trainer_int
from tvm_sepnet.errors import UnsupportedOpError


def test_int_weights_keep_the_trainers_codes_after_a_batch_norm_factor():
    rng = np.random.default_rng(0)
    codes = rng.integers(-7, 8, size=(6, 4, 3, 3)).astype(np.float32)  # 4-bit narrow codes
    codes[:, 0, 0, 0] = 7  # the largest |code| of each channel is 7
    step = rng.uniform(0.01, 0.1, size=(6, 1, 1, 1)).astype(np.float32)
    bn = rng.uniform(-2, 2, size=(6, 1, 1, 1)).astype(np.float32)  # folded batch norm, negative too
    w = (codes * step).astype(np.float32) * bn
    wq, ws = trainer_int(w, [7] * 6, "layer")
    np.testing.assert_array_equal(wq, codes * np.sign(bn))  # not re-quantized to 127 levels
    np.testing.assert_allclose(ws, (step * np.abs(bn)).ravel(), rtol=1e-6)


def test_int_weights_off_the_grid_are_an_error():
    w = np.linspace(-1, 1, 2 * 4 * 3 * 3, dtype=np.float32).reshape(2, 4, 3, 3)
    with pytest.raises(UnsupportedOpError, match="layer 'blk.conv'.*off the trainer's integer grid"):
        trainer_int(w, [3, 3], "blk.conv")


def test_binary_weights_keep_the_trainers_alpha():
    rng = np.random.default_rng(1)
    signs = np.where(rng.random((5, 8, 3, 3)) < 0.5, -1.0, 1.0).astype(np.float32)
    alpha = rng.uniform(0.1, 1, size=(5, 1, 1, 1)).astype(np.float32)
    b, a = trainer_binary(signs * alpha, "k")
    np.testing.assert_array_equal(b, signs)
    np.testing.assert_array_equal(a, alpha.ravel())  # max|W[o]|, which mean|W| would equal only up to rounding
    with pytest.raises(UnsupportedOpError, match="layer 'k'.*output channel 2"):
        w = signs * alpha
        w[2, 0, 0, 0] *= 1.5
        trainer_binary(w, "k")
