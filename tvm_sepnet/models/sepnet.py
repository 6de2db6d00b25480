"""SEP-Net (Li, Wang, Lv, Yang 2017, "Small and Effective Pattern Networks"), float.

Building blocks (every conv has no bias and is followed by batch norm; groups = 4 except the first conv
and the classifier):

- pattern residual block ``PRB(x)``: ``relu(bn(conv3x3_g4(x)) + bn(conv1x1_g4(x)))``;
- SEP module ``SEP(x)`` on C channels with reduced width R:
  ``relu(bn(conv1x1_g4 R->C (PRB(PRB(relu(bn(conv1x1_g4 C->R (x))))))) + x)``;
- stages: SEP modules alternate with plain transition convs (1x1, groups 4, + BN + ReLU) that change the
  channel count; 2x2 stride-2 max pooling before each transition downsamples;
- stem: plain 3x3 stride-2 conv 3->32 (+ BN + ReLU) and a 3x3 stride-2 max pool;
- head: a 1x1 conv classifier to ``num_classes`` (groups 1, with bias), global average pool, flatten:
  logits, no softmax.

The paper's layer table is not public; widths and depths here are chosen to match its published totals
(1.3 M parameters, 5.2 MB float, k×k weights about 20 % of the parameters: 5.2 MB -> 4.2 MB when only
they are binarized). Every conv except the first sees a multiple of 8 input channels per group, so
binarized k×k weights pack into whole bytes.

Layer table at 224x224, 1000 classes (``sepnet().summary()`` condensed per block; params include the
batch-norm statistics, 4 per channel; MACs of convs)::

    block            layers                                      output       params   k×k params     MACs
    conv1            3x3 s2 conv 3->32 g1 + BN + ReLU            32x112x112       992          864   10.84 M
    pool2            3x3 s2 max pool (padding 1)                 32x56x56           -            -         -
    conv2            1x1 conv 32->256 g4 + BN + ReLU             256x56x56      3,072            -    6.42 M
    sep2_1, sep2_2   SEP C=256 R=64                              256x56x56  30,976 x2    18,432 x2  89.92 M x2
    pool3, conv3     2x2 max pool; 1x1 conv 256->384 g4 +BN+ReLU 384x28x28      26,112            -   19.27 M
    sep3_1..sep3_3   SEP C=384 R=64                              384x28x28  35,584 x3    18,432 x3  25.69 M x3
    pool4, conv4     2x2 max pool; 1x1 conv 384->512 g4 +BN+ReLU 512x14x14      51,200            -    9.63 M
    sep4_1..sep4_3   SEP C=512 R=96                              512x14x14  74,624 x3    41,472 x3  13.85 M x3
    pool5, conv5     2x2 max pool; 1x1 conv 512->640 g4 +BN+ReLU 640x7x7        84,480            -    4.01 M
    sep5_1           SEP C=640 R=96                              640x7x7       81,280       41,472    3.76 M
    classifier       1x1 conv 640->1000 g1 + bias                1000x7x7     641,000            -   31.36 M
    gap, flatten     global average pool, flatten                1000               -            -         -

    SEP C,R: reduce 1x1 C->R g4 + BN + ReLU; 2 x PRB(R) (3x3 g4 + BN || 1x1 g4 + BN, add, ReLU);
    restore 1x1 R->C g4 + BN; + x; ReLU.

Totals: 1,280,712 parameters (5.12 MB float32), of which 18,368 are batch-norm running statistics and
18,368 batch-norm scales and shifts; conv weights and biases 1,243,976. k×k conv weights 258,912
(20.2 % of all parameters, 20.8 % of the conv weights), 0.384 GMAC. After batch-norm folding the deployed
float model stores 1,253,160 weights and biases (5.01 MB). 9 SEP modules, 18 PRBs, 60 convs (36 of them
in PRBs).
"""
from __future__ import annotations

from .graph import Net, NetBuilder

#: (channels C, reduced width R, SEP modules) per stage, at strides 4, 8, 16, 32.
STAGES = ((256, 64, 2), (384, 64, 3), (512, 96, 3), (640, 96, 1))
STEM_CHANNELS = 32
GROUPS = 4


def conv_bn(b: NetBuilder, name: str, x: str, channels: int, kernel: int, stride: int = 1,
            groups: int = GROUPS, relu: bool = True) -> str:
    """conv (padding kernel//2, no bias) + batch norm (+ ReLU)."""
    x = b.conv(name, x, channels, kernel, stride=stride, padding=kernel // 2, groups=groups)
    x = b.bn(f"{name}.bn", x)
    return b.relu(x, f"{name}.relu") if relu else x


def pattern_residual_block(b: NetBuilder, name: str, x: str, kernel: int = 3) -> str:
    """PRB: k×k conv + BN and 1×1 conv + BN on the same input, added, then ReLU."""
    c = b.channels(x)
    pattern = conv_bn(b, f"{name}.kxk", x, c, kernel, relu=False)
    point = conv_bn(b, f"{name}.pw", x, c, 1, relu=False)
    return b.relu(b.add(f"{name}.add", pattern, point), f"{name}.relu")


def sep_module(b: NetBuilder, name: str, x: str, reduced: int) -> str:
    """SEP module: 1×1 reduce, two PRBs, 1×1 restore, identity skip, ReLU."""
    c = b.channels(x)
    h = conv_bn(b, f"{name}.reduce", x, reduced, 1)
    h = pattern_residual_block(b, f"{name}.prb1", h)
    h = pattern_residual_block(b, f"{name}.prb2", h)
    h = conv_bn(b, f"{name}.restore", h, c, 1, relu=False)
    return b.relu(b.add(f"{name}.add", h, x), f"{name}.relu")


def sepnet(image_size: int = 224, num_classes: int = 1000, batch: int = 1, seed: int | None = 0,
           stages=STAGES) -> Net:
    """The float SEP-Net on ``(batch, 3, image_size, image_size)`` inputs, weights from ``seed``."""
    b = NetBuilder("sepnet", (batch, 3, image_size, image_size))
    x = conv_bn(b, "conv1", b.input, STEM_CHANNELS, 3, stride=2, groups=1)
    x = b.max_pool("pool2", x, 3, 2, padding=1)
    for i, (channels, reduced, depth) in enumerate(stages, start=2):
        if i > 2:
            x = b.max_pool(f"pool{i}", x, 2, 2)
        x = conv_bn(b, f"conv{i}", x, channels, 1)
        for j in range(1, depth + 1):
            x = sep_module(b, f"sep{i}_{j}", x, reduced)
    x = b.conv("classifier", x, num_classes, 1, bias=True)
    x = b.global_avg_pool("gap", x)
    b.flatten("flatten", x)
    return b.build(seed)
