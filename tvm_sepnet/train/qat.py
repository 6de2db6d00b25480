"""Quantization-aware training with Brevitas: the :func:`.models.brevitas_net` of a config, initialised
from the trained float network (weights and batch norm; quantizer scales from statistics: alpha =
mean|W| per filter, int8 steps max|W|/127, activation scales from the 99.999th percentile of the first
batches, then learned), trained with straight-through estimators through ``sign`` and ``round``."""
from __future__ import annotations

from .fit import train
from .models import QuantConfig, brevitas_net

QAT_EPOCHS, QAT_LR = 4, 3e-3


def train_qat(float_state: dict, config: QuantConfig, data: dict, generator, epochs: int = QAT_EPOCHS, subset=None):
    model = brevitas_net(config)
    state = {k: v for k, v in float_state.items() if not k.endswith(".in_scale")}  # the seed twin's PTQ buffers
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"float weights do not fit the Brevitas twin: {unexpected[:4]}")
    train(model, data, epochs, QAT_LR, generator, subset=subset)
    return model
