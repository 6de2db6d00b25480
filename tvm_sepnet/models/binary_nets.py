"""Fully binary networks of Larq Zoo, float-free between their binary layers: QuickNet (small) and
Bi-Real Net-18, as :class:`Net` s with seeded weights (no trained weights ship: accuracy needs Larq Zoo's
checkpoints, loaded with ``--weights`` from an ``.npz`` keyed by our parameter names).

Both follow Larq Zoo 2.4 (``larq_zoo.sota.QuickNetSmall``, ``larq_zoo.literature.BiRealNet``) layer for
layer, with TensorFlow's SAME padding written out (stride 2 pads the odd pixel at the bottom/right):

- **QuickNet small** (sections of 4 blocks, 32 / 64 / 256 / 512 channels): stem = 3x3 s2 conv 3->8 + BN
  + ReLU, depthwise 3x3 s2 + BN without scale and shift, 1x1 conv 8->32 + BN; residual block =
  ``x + BN(sign_conv3x3(x))`` with +1 padding (``pad_values=1``) and LCE's ReLU on the ±1 dot product
  (Larq's ``activation="relu"`` before the BN); transition = ReLU, 2x2 max pool stride 1, fixed 3x3 s2
  depthwise blur (``[1, 2, 1]`` outer product / 16), 1x1 conv + BN; head = ReLU, global average pool,
  dense 1000, softmax. Batch-norm epsilon 1e-3 in the stem, 1e-5 after the binary and transition convs.
- **Bi-Real Net-18** (64 / 128 / 256 / 512 channels, 4 blocks each): stem = 7x7 s2 conv 3->64 + BN, 3x3 s2
  max pool; block = ``BN(sign_conv3x3(x)) + shortcut`` with zero padding (``pad_values=0``) and
  magnitude-aware weights (the multiplier is ``mean |W|`` per output channel); a block that doubles the
  channels has stride 2 and the shortcut 2x2 s2 average pool + 1x1 conv + BN; head = global average
  pool, dense 1000, softmax. Batch-norm epsilon 1e-3.

``tvm_sepnet.models.to_larq`` (extra ``[larq]``: TensorFlow, Larq, LCE) writes the same network as a
Keras model and its LCE ``.tflite``; ``tvm-sepnet compile quicknet`` needs none of them.
"""
from __future__ import annotations

from .graph import Net, NetBuilder


def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _same_padding(b: NetBuilder, x: str, kernel: int, stride: int) -> tuple:
    _, _, h, w = b.shape(x)
    top, bottom = _same(h, kernel, stride)
    left, right = _same(w, kernel, stride)
    return (top, left, bottom, right)


def quicknet_small(image_size: int = 224, num_classes: int = 1000, batch: int = 1, seed: int | None = 0,
                   sections=((4, 32), (4, 64), (4, 256), (4, 512))) -> Net:
    """QuickNet small (Larq Zoo ``QuickNetSmall``), see the module docstring."""
    b = NetBuilder("quicknet", (batch, 3, image_size, image_size))
    filters = sections[0][1]
    x = b.conv("stem.conv", b.input, filters // 4, 3, stride=2, padding=_same_padding(b, b.input, 3, 2))
    x = b.relu(b.bn("stem.conv.bn", x, eps=1e-3), "stem.conv.relu")
    x = b.conv("stem.dw", x, filters // 4, 3, stride=2, padding=_same_padding(b, x, 3, 2), groups=filters // 4)
    x = b.bn("stem.dw.bn", x, eps=1e-3, scale=False, center=False)
    x = b.bn("stem.pw.bn", b.conv("stem.pw", x, filters, 1), eps=1e-3)
    for s, (blocks, filters) in enumerate(sections):
        for i in range(blocks):
            if b.channels(x) != filters:
                x = b.relu(x, f"s{s}.transition.relu")
                x = b.max_pool(f"s{s}.transition.pool", x, 2, 1)
                c = b.channels(x)
                x = b.add_node("conv2d", f"s{s}.transition.blur", [x], channels=c, kernel=(3, 3), strides=(2, 2),
                               padding=_same_padding(b, x, 3, 2), groups=c, bias=False, fixed="blurpool")
                x = b.bn(f"s{s}.transition.bn", b.conv(f"s{s}.transition.pw", x, filters, 1), eps=1e-5)
            y = b.sign_conv(f"s{s}.b{i}.conv", x, filters, 3, padding=1, pad_value=1, acc_relu=True)
            x = b.add(f"s{s}.b{i}.add", b.bn(f"s{s}.b{i}.bn", y, eps=1e-5), x)
    x = b.relu(x, "head.relu")
    x = b.flatten("head.flatten", b.global_avg_pool("head.pool", x))
    b.softmax("head.softmax", b.dense("head.fc", x, num_classes))
    return b.build(seed)


def birealnet18(image_size: int = 224, num_classes: int = 1000, batch: int = 1, seed: int | None = 0,
                filters: int = 64) -> Net:
    """Bi-Real Net-18 (Larq Zoo ``BiRealNet``), see the module docstring."""
    b = NetBuilder("birealnet", (batch, 3, image_size, image_size))
    x = b.bn("stem.bn", b.conv("stem.conv", b.input, filters, 7, stride=2, padding=_same_padding(b, b.input, 7, 2)),
             eps=1e-3)
    x = b.max_pool("stem.pool", x, 3, 2, padding=_same_padding(b, x, 3, 2))
    block = 0
    for s, width in enumerate((filters, 2 * filters, 4 * filters, 8 * filters)):
        for i in range(4):
            name = f"s{s}.b{i}"
            shortcut, stride = x, 1
            if b.channels(x) != width:
                stride = 2
                shortcut = b.avg_pool(f"{name}.down.pool", x, 2, 2, padding=_same_padding(b, x, 2, 2))
                shortcut = b.bn(f"{name}.down.bn", b.conv(f"{name}.down.conv", shortcut, width, 1), eps=1e-3)
            y = b.sign_conv(f"{name}.conv", x, width, 3, stride=stride, padding=_same_padding(b, x, 3, stride),
                            pad_value=0)
            b.net.nodes[-1].attrs["weight_scale"] = "mean_abs"  # magnitude-aware sign: multiplier mean|W[o]|
            x = b.add(f"{name}.add", b.bn(f"{name}.bn", y, eps=1e-3), shortcut)
            block += 1
    x = b.flatten("head.flatten", b.global_avg_pool("head.pool", x))
    b.softmax("head.softmax", b.dense("head.fc", x, num_classes))
    return b.build(seed)
