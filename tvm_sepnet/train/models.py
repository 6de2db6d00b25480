"""The mini SEP-Net for 16x16 digits, as plain torch (the seed's procedure) and Brevitas (QAT) twins.

Same blocks as ``tvm_sepnet.models.sepnet`` (docs there), scaled down: stem 3x3 conv 1->16 (+BN+ReLU,
always float), 1x1 g4 conv 16->64 (+BN+ReLU), SEP module (C=64, R=32: 1x1 reduce, two pattern residual
blocks of 3x3 g4 || 1x1 g4 convs, 1x1 restore, identity skip), 2x2 max pool, a second SEP module at
8x8, then a float 1x1 classifier 64->10 with bias, global average pool, flatten: 15 convs, 14,394
parameters (batch norm included). Every conv but the stem sees 8 input channels per group.

A :class:`QuantConfig` says how the k×k (3x3) and the 1×1 convs are quantized and how many bits the
inputs of low-bit convs get (``act_bits``: binary convs read ``act_bits``-bit unsigned codes, int8 convs
8-bit unsigned codes; None: float activations). The stem and the classifier stay float in every config
(as tvm-sepnet's ``keep_first`` and its float classifier).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

STEM, CHANNELS, REDUCED, GROUPS = 16, 64, 32, 4


@dataclass(frozen=True)
class QuantConfig:
    kxk: str = "float"          # float | binary
    pointwise: str = "float"    # float | int8 | binary
    act_bits: int | None = None  # None: float activations


#: the table's configurations (docs/training.md), by name
CONFIGS = {
    "float": QuantConfig(),
    "kxk-bin": QuantConfig("binary"),
    "kxk-bin+pw8": QuantConfig("binary", "int8"),
    **{f"kxk-bin+pw8+a{a}": QuantConfig("binary", "int8", a) for a in (8, 4, 2, 1)},
    "all-bin": QuantConfig("binary", "binary"),
}


def conv_format(config: QuantConfig, kernel: int) -> str:
    return config.kxk if kernel > 1 else config.pointwise


def input_bits(config: QuantConfig, kernel: int) -> int | None:
    """Bits of a low-bit conv's input codes (None: float input)."""
    fmt = conv_format(config, kernel)
    if config.act_bits is None or fmt == "float":
        return None
    return config.act_bits if fmt == "binary" else 8


class _Net(nn.Module):
    """The network over a conv factory ``make(cin, cout, kernel, groups, quantized)``."""

    def __init__(self, make, num_classes: int = 10):
        super().__init__()

        def cbn(cin, cout, k, groups=GROUPS, quantized=True):
            return nn.ModuleDict({"conv": make(cin, cout, k, groups, quantized), "bn": nn.BatchNorm2d(cout)})

        self.conv1 = cbn(1, STEM, 3, groups=1, quantized=False)
        self.conv2 = cbn(STEM, CHANNELS, 1)
        self.seps = nn.ModuleList()
        for _ in range(2):
            sep = nn.ModuleDict({"reduce": cbn(CHANNELS, REDUCED, 1), "restore": cbn(REDUCED, CHANNELS, 1)})
            for p in ("prb1", "prb2"):
                sep[p] = nn.ModuleDict({"kxk": cbn(REDUCED, REDUCED, 3), "pw": cbn(REDUCED, REDUCED, 1)})
            self.seps.append(sep)
        self.classifier = make(CHANNELS, num_classes, 1, 1, False, bias=True)

    @staticmethod
    def _cbn(m, x, relu=True):
        y = m["bn"](m["conv"](x))
        return torch.relu(y) if relu else y

    def forward(self, x):
        x = self._cbn(self.conv1, x)
        x = self._cbn(self.conv2, x)
        for i, sep in enumerate(self.seps):
            if i:
                x = nn.functional.max_pool2d(x, 2)
            h = self._cbn(sep["reduce"], x)
            for p in ("prb1", "prb2"):
                h = torch.relu(self._cbn(sep[p]["kxk"], h, relu=False) + self._cbn(sep[p]["pw"], h, relu=False))
            x = torch.relu(self._cbn(sep["restore"], h, relu=False) + x)
        return self.classifier(x).mean(dim=(2, 3))

    def convs(self):
        """(name, conv module) of every conv, in program order."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def quantizable_convs(self):
        """(name, conv) of the convs a config quantizes: all but the stem and the classifier."""
        return [(n, m) for n, m in self.convs() if n not in ("conv1.conv", "classifier")]


class SeedConv(nn.Conv2d):
    """A conv of the seed's procedure: float; or, after :meth:`binarize`, ``B * alpha`` with the signs
    ``B = sign(W)`` (sign(0) = +1) a fixed buffer and ``alpha`` (per filter, initially mean|W|) trained.
    Post-training quantization for evaluation (:mod:`.seed_procedure`): ``int8`` weights
    (``rint(W / s) * s``, ``s = max|W[o]| / 127``) and an unsigned ``in_bits``-bit input quantizer
    ``clip(rint(x / in_scale), 0, 2^b - 1) * in_scale``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = "float"
        self.exporting = False  # forward with the stored weights only (export.py adds the quantizer nodes)
        self.in_bits = None
        self.register_buffer("in_scale", torch.ones(()))

    def binarize(self):
        w = self.weight.detach()
        self.register_buffer("signs", torch.where(w >= 0, 1.0, -1.0))
        self.alpha = nn.Parameter(w.abs().mean(dim=(1, 2, 3), keepdim=True).clone())
        self.weight.requires_grad_(False)
        self.mode = "binary"

    def effective_weight(self):
        if self.mode == "binary":
            return self.signs * self.alpha
        if self.mode == "int8":
            w = self.weight
            s = w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127
            return torch.where(s > 0, torch.round(w / torch.where(s > 0, s, 1)) * s, 0 * w)
        return self.weight

    def forward(self, x):
        if self.exporting:
            return self._conv_forward(x, self.signs if self.mode == "binary" else self.weight, self.bias)
        if self.in_bits is not None:
            x = torch.clamp(torch.round(x / self.in_scale), 0, 2 ** self.in_bits - 1) * self.in_scale
        return self._conv_forward(x, self.effective_weight(), self.bias)


def seed_net(num_classes: int = 10) -> _Net:
    """The plain torch twin (every conv a :class:`SeedConv`, float until binarized)."""
    def make(cin, cout, k, groups, quantized, bias=False):
        return SeedConv(cin, cout, k, padding=k // 2, groups=groups, bias=bias)
    return _Net(make, num_classes)


def _binary_weight_quant():
    from brevitas.core.scaling import ScalingImplType
    from brevitas.core.stats import StatsOp
    from brevitas.quant.binary import SignedBinaryWeightPerTensorConst

    class BinaryWeightPerChannel(SignedBinaryWeightPerTensorConst):
        """±alpha per output channel, alpha initialised to mean|W[o]| and learned (straight-through sign)."""
        scaling_impl_type = ScalingImplType.PARAMETER_FROM_STATS
        scaling_stats_op = StatsOp.AVE
        scaling_per_output_channel = True

    return BinaryWeightPerChannel


def brevitas_net(config: QuantConfig, num_classes: int = 10) -> _Net:
    """The Brevitas twin for ``config``: binary convs with per-channel learned alpha, int8 convs
    (Brevitas ``Int8WeightPerChannelFloat``: narrow-range symmetric, scale max|W[o]|/127), learned
    per-tensor unsigned input quantizers (``Uint8ActPerTensorFloat`` with ``bit_width`` bits)."""
    from brevitas import nn as qnn
    from brevitas.quant import Int8WeightPerChannelFloat, Uint8ActPerTensorFloat

    binary = _binary_weight_quant()

    def make(cin, cout, k, groups, quantized, bias=False):
        fmt = conv_format(config, k) if quantized else "float"
        bits = input_bits(config, k) if quantized else None
        weight_quant = {"float": None, "binary": binary, "int8": Int8WeightPerChannelFloat}[fmt]
        kwargs = {}
        if bits is not None:
            kwargs["input_quant"] = Uint8ActPerTensorFloat
            kwargs["input_bit_width"] = bits
        return qnn.QuantConv2d(cin, cout, k, padding=k // 2, groups=groups, bias=bias, weight_quant=weight_quant,
                               **kwargs)
    return _Net(make, num_classes)
