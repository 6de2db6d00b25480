"""scikit-learn's 8x8 digits (1,797 images, shipped inside the scikit-learn wheel: nothing is downloaded),
split and upsampled for the mini SEP-Net.

Images: pixel values 0..16 divided by 16 (float32 in [0, 1]), upsampled ``factor`` times by pixel
repetition (8x8 -> 16x16 by default), NCHW with one channel. Split: a stratified 80/20 split with a
fixed seed (``SPLIT_SEED``), independent of the training seed: 1,437 training and 360 test images.
Augmentation (training only): a random shift of up to ``shift`` pixels in each direction (zero fill),
drawn from the generator that the caller seeds.
"""
from __future__ import annotations

import numpy as np

SPLIT_SEED = 0
TEST_FRACTION = 0.2
NUM_CLASSES = 10


def digits(factor: int = 2) -> dict:
    """``{"x_train", "y_train", "x_test", "y_test"}``: float32 NCHW images in [0, 1] of side
    ``8 * factor`` and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    if factor > 1:
        x = x.repeat(factor, axis=2).repeat(factor, axis=3)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)
    return {"x_train": np.ascontiguousarray(x_tr), "y_train": y_tr,
            "x_test": np.ascontiguousarray(x_te), "y_test": y_te}


def shift_batch(x, generator, shift: int = 2):
    """A torch batch with each image shifted by a random (dy, dx) in [-shift, shift] (zero fill)."""
    import torch

    if shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    d = torch.randint(0, 2 * shift + 1, (n, 2), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = int(d[i, 0]), int(d[i, 1])
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out
