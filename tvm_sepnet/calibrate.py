"""Activation ranges for QuantizeActivations, measured with the reference executor.

Methods: ``minmax`` (the range seen) and ``percentile`` (the 0.01 / 99.99 percentiles, which ignore
rare outliers). With no calibration data the default is :func:`synthetic_inputs`: a fixed batch of
standard-normal images (seed 0), which keeps every layer's range finite and positive; real images
give better scales, and a model deployed on real data should be calibrated with some.
"""
from __future__ import annotations

import numpy as np

from .errors import InputMismatchError
from .reference import ReferenceExecutor


def synthetic_inputs(specs: list[dict], count: int = 2, seed: int = 0) -> list[dict]:
    """``count`` standard-normal input dicts for the input ``specs`` (deterministic). Each is drawn at
    batch 1 and repeated along the batch axis to the specs' batch, so a model compiled for batch N gets
    the ranges, hence the quantizers, of the same model at batch 1 (a batch-N run equals N batch-1 runs)."""
    rng = np.random.default_rng(seed)
    return [{s["name"]: _to_batch(rng.standard_normal([1, *s["shape"][1:]]).astype(s["dtype"]), s["shape"][0])
             for s in specs} for _ in range(count)]


def _to_batch(image: np.ndarray, batch: int) -> np.ndarray:
    return np.repeat(image, int(batch), axis=0) if batch != 1 else image


def load_calibration(path: str, specs: list[dict]) -> list[dict]:
    """Calibration samples from an ``.npz`` whose keys are input names; each array is one input of
    the model's shape or a stack of them along a new first axis. For a model compiled for batch N > 1,
    batch-1 samples (shape ``(1, ...)`` or a stack of them) are accepted too and repeated to batch N
    (the same ranges as the batch-1 model's on the same file)."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    names = [s["name"] for s in specs]
    if set(data) != set(names):
        raise InputMismatchError(
            f"calibration file {path}: keys {sorted(data)} do not match the model's inputs {names}")
    counts = set()
    for s in specs:
        arr = data[s["name"]]
        shape = tuple(s["shape"])
        single = (1, *shape[1:])
        if shape[0] != 1 and (arr.shape == single or arr.shape[1:] == single):
            arr = arr[None] if arr.shape == single else arr
            arr = data[s["name"]] = np.repeat(arr, shape[0], axis=1)
        if arr.shape == shape:
            data[s["name"]] = arr[None]
        elif arr.shape[1:] != shape:
            raise InputMismatchError(
                f"calibration file {path}: input {s['name']!r} has shape {arr.shape}; expected {shape} "
                f"or (count, {', '.join(map(str, shape))})")
        counts.add(data[s["name"]].shape[0])
    if len(counts) != 1:
        raise InputMismatchError(f"calibration file {path}: inputs have different sample counts {sorted(counts)}")
    n = counts.pop()
    return [{k: v[i].astype(next(s["dtype"] for s in specs if s["name"] == k)) for k, v in data.items()}
            for i in range(n)]


def calibrate(executor: ReferenceExecutor, samples: list[dict], method: str = "minmax") -> dict:
    """{layer name: (lo, hi)} of the input of every ``sepnet.conv2d`` layer over ``samples``."""
    if method not in ("minmax", "percentile"):
        raise ValueError(f"calibration method must be 'minmax' or 'percentile', got {method!r}")
    seen: dict[str, list] = {}

    def observe(node, args):
        if node["op"] == "sepnet.conv2d":
            x = args[0]
            if method == "minmax":
                lo, hi = float(x.min()), float(x.max())
            else:
                lo, hi = (float(v) for v in np.percentile(x, [0.01, 99.99]))
            seen.setdefault(node["attrs"]["name"], []).append((lo, hi))

    for sample in samples:
        executor.run(sample, observe=observe)
    return {name: (min(r[0] for r in rs), max(r[1] for r in rs)) for name, rs in seen.items()}
