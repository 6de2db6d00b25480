"""What every frontend returns: a float Relax module, its conv layer names and the model's default
compile config."""
from __future__ import annotations

from dataclasses import dataclass, field

import tvm

DEFAULT_CONFIG = {"kxk": "binary", "pointwise": "int8", "act_bits": 4}


@dataclass
class LoadedModel:
    """A float Relax module with the names of its conv layers and the model's default compile config;
    ``any_batch``: the source leaves the batch free (a zoo model, an ONNX model whose inputs have a
    symbolic leading dimension), so the compiled artifact may run any number of images
    (``tvm_sepnet.batching``)."""

    name: str
    mod: tvm.IRModule
    layer_names: list = field(default_factory=list)
    config: dict = field(default_factory=lambda: dict(DEFAULT_CONFIG))
    any_batch: bool = False
    #: the trainer's quantizers by layer name (``frontend.onnx_quantizers``); empty for float models
    quantizers: dict = field(default_factory=dict)
