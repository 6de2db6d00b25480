"""MobileNet v1 (Howard et al. 2017) with width multiplier 0.5, float.

conv 3x3 s2 3->16 + BN + ReLU, then 13 depthwise-separable blocks (depthwise 3x3 conv = conv2d with
groups = channels, + BN + ReLU; pointwise 1x1 conv + BN + ReLU), global average pool, flatten, dense
classifier (with bias). Convs have no bias (batch norm follows each).

At 224x224 with 1000 classes: 1,320,648 weights (the paper's 1.32 M), 1,342,536 parameters with the
batch-norm statistics (4 per channel), 0.149 GMAC.
"""
from __future__ import annotations

from .graph import Net, NetBuilder

#: (pointwise output channels at width 1.0, depthwise stride) per depthwise-separable block.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))


def _conv_bn_relu(b: NetBuilder, name: str, x: str, channels: int, kernel: int, stride: int = 1,
                  groups: int = 1) -> str:
    x = b.conv(name, x, channels, kernel, stride=stride, padding=kernel // 2, groups=groups)
    return b.relu(b.bn(f"{name}.bn", x), f"{name}.relu")


def mobilenet_v1(image_size: int = 224, num_classes: int = 1000, batch: int = 1, seed: int | None = 0,
                 width: float = 0.5) -> Net:
    """MobileNet v1 at ``width`` on ``(batch, 3, image_size, image_size)`` inputs, weights from ``seed``."""
    name = "mobilenet-0.5" if width == 0.5 else f"mobilenet-{width:g}"
    b = NetBuilder(name, (batch, 3, image_size, image_size))
    x = _conv_bn_relu(b, "conv1", b.input, int(32 * width), 3, stride=2)
    for i, (channels, stride) in enumerate(BLOCKS, start=1):
        c = b.channels(x)
        x = _conv_bn_relu(b, f"block{i}.dw", x, c, 3, stride=stride, groups=c)
        x = _conv_bn_relu(b, f"block{i}.pw", x, int(channels * width), 1)
    x = b.global_avg_pool("gap", x)
    x = b.flatten("flatten", x)
    b.dense("fc", x, num_classes)
    return b.build(seed)
