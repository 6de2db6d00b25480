"""The training loop shared by both procedures: Adam, cross-entropy, cosine learning-rate decay,
mini-batches of 64 shuffled and shift-augmented (:func:`.data.shift_batch`) from a generator seeded by
the caller; deterministic for a seed (single-threaded torch, deterministic algorithms)."""
from __future__ import annotations

import numpy as np

BATCH = 64


def seeded(seed: int):
    """Seed torch's global generator (initialisation) and return a generator for batches/augmentation."""
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def train(model, data: dict, epochs: int, lr: float, generator, params=None, subset: int | None = None) -> list:
    """Train ``model`` in place on ``data["x_train"]`` (the first ``subset`` images if given); returns the
    mean loss per epoch."""
    import torch

    from .data import shift_batch

    x = torch.from_numpy(data["x_train"][:subset])
    y = torch.from_numpy(data["y_train"][:subset])
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * ((len(x) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            xb = shift_batch(x[idx], generator)
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    model.eval()
    return losses


def predict(model, x: np.ndarray) -> np.ndarray:
    """Logits of ``model`` (eval mode) on NCHW float32 images."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x).argmax(axis=1) == y).mean())
