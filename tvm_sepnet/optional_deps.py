"""Python packages that only some commands need, and the ``pip`` extra of tvm-sepnet that installs each.

The command line turns a ``ModuleNotFoundError`` of one of these into a one-line error naming the extra
(exit status 2), instead of a traceback: ``tvm-sepnet compile model.onnx`` without the ``[onnx]`` extra,
``tvm-sepnet bench`` without ``sympy`` (onnxruntime's ``quant_pre_process`` imports it).
"""
from __future__ import annotations

from .errors import SepnetError

#: top-level module -> (PyPI distribution, tvm-sepnet extra)
OPTIONAL = {
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "sympy": ("sympy", "onnx"),
    "torch": ("torch", "torch"),
    "torchvision": ("torchvision", "torch"),
    "onnxscript": ("onnxscript", "torch"),
    "tensorflow": ("tensorflow-cpu", "larq"),
    "tf_keras": ("tf-keras", "larq"),
    "larq": ("larq", "larq"),
    "larq_compute_engine": ("larq-compute-engine", "larq"),
    "pytest": ("pytest", "test"),
}


class MissingPackageError(SepnetError):
    """A command needs a Python package of an extra that is not installed."""


def missing_package_error(err: ModuleNotFoundError) -> MissingPackageError | None:
    """The error to report for ``err`` if it is about one of the optional packages, else None."""
    root = (err.name or "").split(".")[0]
    if root not in OPTIONAL:
        return None
    dist, extra = OPTIONAL[root]
    return MissingPackageError(f"this command needs the Python package {dist!r} (module {root!r}), which is not "
                               f"installed; install the {extra!r} extra: pip install 'tvm-sepnet[{extra}]'")


__all__ = ["OPTIONAL", "MissingPackageError", "missing_package_error"]
