"""Run a model compiled for batch B on any number of images N (numpy only).

An artifact whose graph is marked ``any_batch`` (its source declares the batch free: a zoo model, or
an ONNX model whose inputs all have a symbolic leading dimension) takes inputs whose leading
dimension is any N >= 1, the other dimensions as compiled. The compiled module keeps its fixed batch
B (the batch is part of every kernel's shapes: a real batch-B module, ``compile --batch B``); N
images run as ceil(N / B) calls of it, the last chunk padded with copies of its last image, and the
outputs are joined along the batch axis and cut to N. Every layer computes each image on its own
(convolutions, pooling, the classifier), so the padding never changes the N real images' outputs:
a batch-N run equals N batch-1 runs bit for bit (tests/cli/test_batch.py). The reference executor
runs the same way.
"""
from __future__ import annotations

import numpy as np

from .errors import InputMismatchError


def named_inputs(inputs, specs: list[dict]) -> dict:
    """``inputs`` (an array, a list, or a name -> array dict) as a name -> array dict."""
    if isinstance(inputs, dict):
        return inputs
    arrays = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if len(arrays) != len(specs):
        raise InputMismatchError(f"the model takes {len(specs)} input(s), got {len(arrays)}")
    return {s["name"]: a for s, a in zip(specs, arrays)}


def other_batch(inputs: dict, specs: list[dict]) -> int | None:
    """N when every input is the compiled shape but for a leading dimension N other than the compiled
    batch (the same N for all inputs), else None (the inputs are checked as usual)."""
    ns = set()
    for s in specs:
        arr = inputs.get(s["name"])
        shape = list(getattr(arr, "shape", ()))
        if len(shape) != len(s["shape"]) or shape[1:] != list(s["shape"][1:]) or shape[0] < 1:
            return None
        ns.add(shape[0])
    if len(ns) != 1:
        if len(ns) > 1:
            raise InputMismatchError(f"inputs have different batch sizes {sorted(ns)}: give every input the same number "
                                     "of images")
        return None
    n = ns.pop()
    return None if n == specs[0]["shape"][0] else n


def split_batches(inputs: dict, specs: list[dict]) -> list[dict]:
    """Chunks of the compiled batch B along axis 0; the last one padded with copies of its last image."""
    b = int(specs[0]["shape"][0])
    n = int(np.asarray(inputs[specs[0]["name"]]).shape[0])
    chunks = []
    for start in range(0, n, b):
        chunk = {}
        for s in specs:
            part = np.asarray(inputs[s["name"]])[start:start + b]
            if part.shape[0] < b:
                part = np.concatenate([part, np.repeat(part[-1:], b - part.shape[0], axis=0)])
            chunk[s["name"]] = np.ascontiguousarray(part)
        chunks.append(chunk)
    return chunks


def join_batches(results: list[list[np.ndarray]], n: int) -> list[np.ndarray]:
    """Each output of the chunks' ``results`` joined along axis 0 and cut to ``n`` images."""
    return [np.concatenate([r[i] for r in results])[:n] for i in range(len(results[0]))]


def run_any_batch(run, inputs, specs: list[dict], any_batch: bool):
    """``run(chunk)`` over the chunks of ``inputs`` when the model takes any batch and ``inputs`` have
    a batch other than the compiled one (the joined outputs); else None (run ``inputs`` as they are)."""
    if not any_batch:
        return None
    named = named_inputs(inputs, specs)
    n = other_batch(named, specs)
    if n is None:
        return None
    return join_batches([run(chunk) for chunk in split_batches(named, specs)], n)


__all__ = ["join_batches", "named_inputs", "other_batch", "run_any_batch", "split_batches"]
