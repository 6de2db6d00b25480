"""SqueezeNet 1.1 (Iandola et al. 2016), in torchvision's layout, float.

conv 3x3 s2 3->64 + ReLU; max pool 3x3 s2 (ceil mode); Fire(16, 64) x2; max pool; Fire(32, 128) x2;
max pool; Fire(48, 192) x2; Fire(64, 256) x2; 1x1 conv classifier + ReLU; global average pool; flatten.
A Fire(s, e) module: squeeze 1x1 conv to s + ReLU, then expand 1x1 conv to e + ReLU and expand 3x3 conv
(padding 1) to e + ReLU on the squeezed tensor, concatenated (2e channels). Every conv has a bias; there
is no batch norm. Ceil-mode pooling is expressed as explicit bottom/right padding, so the ONNX and Relax
graphs agree on every output shape (identical to torchvision's at any input size).

At 224x224 with 1000 classes: 1,235,496 parameters (as torchvision), 0.349 GMAC, output 1000x13x13
before the global pool.
"""
from __future__ import annotations

from .graph import Net, NetBuilder

#: (squeeze, expand) per Fire module; "M" = 3x3 stride-2 ceil-mode max pool.
LAYOUT = ("M", (16, 64), (16, 64), "M", (32, 128), (32, 128), "M", (48, 192), (48, 192), (64, 256), (64, 256))


def fire(b: NetBuilder, name: str, x: str, squeeze: int, expand: int) -> str:
    """Fire module: squeeze 1x1 + ReLU, then [expand 1x1 + ReLU, expand 3x3 + ReLU] concatenated."""
    s = b.relu(b.conv(f"{name}.squeeze", x, squeeze, 1, bias=True), f"{name}.squeeze.relu")
    e1 = b.relu(b.conv(f"{name}.expand1x1", s, expand, 1, bias=True), f"{name}.expand1x1.relu")
    e3 = b.relu(b.conv(f"{name}.expand3x3", s, expand, 3, padding=1, bias=True), f"{name}.expand3x3.relu")
    return b.concat(f"{name}.concat", [e1, e3])


def squeezenet1_1(image_size: int = 224, num_classes: int = 1000, batch: int = 1, seed: int | None = 0) -> Net:
    """SqueezeNet 1.1 on ``(batch, 3, image_size, image_size)`` inputs, weights from ``seed``."""
    b = NetBuilder("squeezenet1.1", (batch, 3, image_size, image_size))
    x = b.relu(b.conv("conv1", b.input, 64, 3, stride=2, bias=True), "conv1.relu")
    pools = fires = 0
    for item in LAYOUT:
        if item == "M":
            pools += 1
            x = b.max_pool(f"pool{pools}", x, 3, 2, ceil_mode=True)
        else:
            fires += 1
            x = fire(b, f"fire{fires + 1}", x, *item)
    x = b.relu(b.conv("classifier", x, num_classes, 1, bias=True), "classifier.relu")
    x = b.global_avg_pool("gap", x)
    b.flatten("flatten", x)
    return b.build(seed)
