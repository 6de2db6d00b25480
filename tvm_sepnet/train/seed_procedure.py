"""The seed's procedure (../shared/docs/sepnet-paper.md): train float, binarize, fine-tune without a
straight-through estimator.

1. the float network is trained (:func:`train_float`);
2. every conv that the config binarizes gets ``B = sign(W)`` (sign(0) = +1) as a fixed buffer and a
   per-filter ``alpha = mean|W|`` (:meth:`.models.SeedConv.binarize`);
3. fine-tuning trains alpha, the other convs' weights, biases and batch norm; ``B`` never changes, so
   no gradient has to pass through ``sign`` (no STE);
4. what the procedure cannot train (it has no STE) is quantized after training: int8 1×1 weights
   (per output channel, ``max|W[o]| / 127``) and unsigned A-bit activation quantizers on the inputs of
   binary convs (8-bit on int8 convs' inputs) with ``scale = max(x) / (2^A - 1)`` over the training
   images (calibration).
"""
from __future__ import annotations

import numpy as np

from .fit import train
from .models import QuantConfig, conv_format, input_bits, seed_net

FLOAT_EPOCHS, FLOAT_LR = 10, 1e-2
TUNE_EPOCHS, TUNE_LR = 4, 3e-3


def train_float(data: dict, generator, epochs: int = FLOAT_EPOCHS, subset=None):
    """Step 1: the float :func:`.models.seed_net`, trained."""
    model = seed_net()
    train(model, data, epochs, FLOAT_LR, generator, subset=subset)
    return model


def fine_tune(float_state: dict, config: QuantConfig, data: dict, generator, epochs: int = TUNE_EPOCHS, subset=None):
    """Steps 2-4 from a trained float network's ``state_dict``; returns the model (eval mode)."""
    import torch

    model = seed_net()
    model.load_state_dict(float_state)
    convs = model.quantizable_convs()
    for _, conv in convs:
        if conv_format(config, conv.kernel_size[0]) == "binary":
            conv.binarize()
    train(model, data, epochs, TUNE_LR, generator, subset=subset)
    for _, conv in convs:
        if conv_format(config, conv.kernel_size[0]) == "int8":
            conv.mode = "int8"
    if config.act_bits is not None:
        maxima = {}
        hooks = [conv.register_forward_pre_hook(lambda m, inp, key=name: maxima.__setitem__(
            key, max(maxima.get(key, 0.0), float(inp[0].max())))) for name, conv in convs]
        with torch.no_grad():
            model(torch.from_numpy(data["x_train"][:subset]))
        for h in hooks:
            h.remove()
        for name, conv in convs:  # ranges measured on the network with float activations
            bits = input_bits(config, conv.kernel_size[0])
            if bits is not None:
                conv.in_bits = bits
                conv.in_scale.fill_(np.float32(max(maxima[name], 1e-8) / (2 ** bits - 1)))
    model.eval()
    return model
