"""Model sources, turned into float Relax modules (:class:`LoadedModel`): zoo names
(:mod:`.zoo`) and ONNX files (:mod:`.onnx_model`). :func:`load_model` picks one by the source's name."""
from __future__ import annotations

import os

from ..errors import SepnetError
from .loaded import DEFAULT_CONFIG, LoadedModel
from .onnx_model import SUPPORTED_ONNX_OPS, load_onnx, onnx_input_shapes, read_onnx
from .tflite_model import SUPPORTED_TFLITE_OPS, load_tflite, read_tflite
from .zoo import load_zoo


def load_model(source: str, batch: int | None = None, **zoo_options) -> LoadedModel:
    """A zoo name or a path to an ``.onnx`` or ``.tflite`` file; ``batch``: the batch to compile for
    (zoo models; ONNX models with a symbolic batch dimension), default 1."""
    if batch is not None and batch < 1:
        raise SepnetError(f"--batch must be >= 1, got {batch}")
    if source.lower().endswith(".tflite"):
        if batch not in (None, 1):
            raise SepnetError(f"{source!r}: .tflite models compile at their own batch; --batch is for zoo and ONNX models")
        return load_tflite(source)
    if source.lower().endswith(".onnx") or os.path.sep in source:
        return load_onnx(source, batch=batch)
    return load_zoo(source, batch=batch or 1, **zoo_options)


__all__ = ["DEFAULT_CONFIG", "LoadedModel", "SUPPORTED_ONNX_OPS", "SUPPORTED_TFLITE_OPS", "load_model", "load_onnx",
           "load_tflite", "load_zoo", "read_tflite",
           "onnx_input_shapes", "read_onnx"]
