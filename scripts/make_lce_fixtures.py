"""Write the Larq Compute Engine test fixtures of tests/data/lce/: small networks as LCE ``.tflite`` files
(through ``tvm_sepnet.models.to_larq``: Keras + Larq + LCE's converter) and LCE's interpreter outputs on
seeded inputs. Needs the ``[larq]`` extra (TensorFlow, Larq, LCE); run from the repository root:

    TF_USE_LEGACY_KERAS=1 PYTHONPATH=. python scripts/make_lce_fixtures.py [-o tests/data/lce]

Each fixture is ``<name>.tflite`` and ``<name>_lce.npz`` with ``x`` (NHWC inputs, 2 images), ``y`` (LCE's
outputs, one run per image, 2 threads) and ``kernel`` (the LCE kernel flags used: its default kernel,
or ``use_indirect_bgemm`` where the default refuses the model, e.g. grouped binary convs).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tvm_sepnet.models.binary_nets import birealnet18, quicknet_small  # noqa: E402
from tvm_sepnet.models.graph import NetBuilder  # noqa: E402
from tvm_sepnet.models.to_larq import to_tflite  # noqa: E402


def _head(b, x, classes=10):
    x = b.flatten("head.flatten", b.global_avg_pool("head.pool", x))
    return b.softmax("head.softmax", b.dense("head.fc", x, classes))


def chain_pad1(seed):
    """bconv (pad 1, ReLU on the integer) -> BN -> bconv -> BN -> 1x1 float conv: the first bconv gets a
    bitpacked (thresholded) output from LCE's converter."""
    b = NetBuilder("chain_pad1", (1, 40, 9, 9))
    x = b.bn("a.bn", b.sign_conv("a", b.input, 64, 3, padding=1, pad_value=1, acc_relu=True), eps=1e-3)
    x = b.bn("b.bn", b.sign_conv("b", x, 48, 3, padding=1, pad_value=1), eps=1e-3)
    b.conv("c", x, 8, 1)
    return b.build(seed)


def single_pad0(seed):
    """one zero-padded bconv, odd input channels, float output: LCE's correction at the border."""
    b = NetBuilder("single_pad0", (1, 35, 12, 12))
    b.bn("a.bn", b.sign_conv("a", b.input, 40, 3, padding=1, pad_value=0), eps=1e-3)
    return b.build(seed)


def stride2_pad0(seed):
    b = NetBuilder("stride2_pad0", (1, 32, 10, 10))
    x = b.bn("a.bn", b.sign_conv("a", b.input, 64, 3, stride=2, padding=(0, 0, 1, 1), pad_value=0), eps=1e-3)
    b.bn("b.bn", b.sign_conv("b", x, 64, 3, padding=1, pad_value=1), eps=1e-3)
    return b.build(seed)


def groups_maxpool(seed):
    """grouped bconvs (2 groups of 32 channels) and a max pool between binary layers (LceBMaxPool2d)."""
    b = NetBuilder("groups_maxpool", (1, 64, 12, 12))
    x = b.bn("a.bn", b.sign_conv("a", b.input, 64, 3, padding=1, pad_value=1, groups=2), eps=1e-3)
    x = b.max_pool("pool", x, 2, 2)
    x = b.bn("b.bn", b.sign_conv("b", x, 64, 3, padding=1, pad_value=1, groups=2), eps=1e-3)
    _head(b, x)
    return b.build(seed)


def residual_dilation(seed):
    """Bi-Real style residual sign layers, one with dilation 2, then a dense head."""
    b = NetBuilder("residual_dilation", (1, 32, 11, 11))
    x = b.input
    for i, d in enumerate((1, 2)):
        y = b.bn(f"r{i}.bn", b.sign_conv(f"r{i}", x, 32, 3, padding=d, dilation=d, pad_value=1), eps=1e-3)
        x = b.add(f"r{i}.add", y, x)
    _head(b, x)
    return b.build(seed)


def quicknet_mini(seed):
    return quicknet_small(image_size=32, num_classes=10, seed=seed, sections=((2, 32), (2, 64)))


def birealnet_mini(seed):
    return birealnet18(image_size=96, num_classes=10, seed=seed, filters=16)  # smallest map 3x3 (see docs: LCE and maps <= 2)


FIXTURES = {"chain_pad1": chain_pad1, "single_pad0": single_pad0, "stride2_pad0": stride2_pad0,
            "groups_maxpool": groups_maxpool, "residual_dilation": residual_dilation, "quicknet_mini": quicknet_mini,
            "birealnet_mini": birealnet_mini}


def main():
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default="tests/data/lce")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    index = {}
    for name, make in FIXTURES.items():
        if args.only and name not in args.only:
            continue
        net = make(seed=7)
        raw = to_tflite(net)
        path = os.path.join(args.output, f"{name}.tflite")
        with open(path, "wb") as f:
            f.write(raw)
        n, c, h, w = net.input_shape
        x = np.random.default_rng(11).standard_normal((2, h, w, c)).astype(np.float32)
        x[0, 0, 0, :3] = 0.0  # zeros binarize to +1
        for kernel, flags in (("default", {}), ("indirect_bgemm", {"use_indirect_bgemm": True})):
            try:
                interp = Interpreter(raw, num_threads=2, **flags)
                y = np.concatenate([np.asarray(interp.predict(x[i:i + 1])) for i in range(2)])
                break
            except RuntimeError:
                continue
        np.savez(os.path.join(args.output, f"{name}_lce.npz"), x=x, y=y, kernel=kernel)
        index[name] = {"bytes": len(raw), "kernel": kernel}
        print(f"{name}: {len(raw)} bytes, LCE kernel {kernel}, output {y.shape}")
    with open(os.path.join(args.output, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
