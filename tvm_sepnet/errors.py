"""Errors that tvm-sepnet raises for bad input: each names the layer, shape or op and what to do."""


class SepnetError(ValueError):
    """Base class of every user-facing error of tvm-sepnet."""


class UnsupportedOpError(SepnetError):
    """A model contains an operator that tvm-sepnet cannot compile."""


class InvalidModelError(SepnetError):
    """A model file is malformed, truncated or inconsistent."""


class InvalidWeightsError(SepnetError):
    """A layer's weights are unusable (NaN/Inf, wrong shape)."""


class InputMismatchError(SepnetError):
    """Run-time or calibration input does not match the model's input (name, shape or dtype)."""
