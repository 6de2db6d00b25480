"""A :class:`Net` as a Keras model with Larq layers, and its Larq Compute Engine ``.tflite`` (extra
``[larq]``: ``tensorflow-cpu``, ``tf-keras``, ``larq``, ``larq-compute-engine``; run with
``TF_USE_LEGACY_KERAS=1``). Nothing else in tvm-sepnet needs TensorFlow.

The Keras model has the layers Larq Zoo uses for the same architecture (``binary_nets``): ``Conv2D`` /
``DepthwiseConv2D`` (float), ``lq.layers.QuantConv2D`` with ``ste_sign`` input and kernel quantizers
(``magnitude_aware_sign`` kernels when the layer's multiplier is ``mean |W|``), ``pad_values``,
``activation="relu"`` for ``acc_relu``; ``BatchNormalization``, ``MaxPool2D`` / ``AvgPool2D``, a global
average pool as an ``AvgPool2D`` over the whole map (Larq Zoo's ``global_pool``), ``Dense``,
``Softmax``. Explicit paddings must be TensorFlow's SAME or VALID. The weights are the net's.

    TF_USE_LEGACY_KERAS=1 python -m tvm_sepnet.models.to_larq quicknet -o quicknet.tflite [--seed 0]
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from .graph import Net


def _same(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _tf_padding(node, in_shape) -> str:
    a = node.attrs
    top, left, bottom, right = a["padding"]
    if (top, left, bottom, right) == (0, 0, 0, 0):
        return "valid"
    (kh, kw), (sh, sw) = a["kernel"], a["strides"]
    dh, dw = a.get("dilation", (1, 1))
    if (top, bottom) == _same(in_shape[2], kh, sh, dh) and (left, right) == _same(in_shape[3], kw, sw, dw):
        return "same"
    raise ValueError(f"layer {node.name!r}: padding {a['padding']} is neither TensorFlow's SAME nor VALID")


def to_keras(net: Net):
    """The Keras (tf_keras) model of ``net`` with its weights."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import larq as lq
    import tf_keras as keras

    shapes = net.shapes()
    n, c, h, w = net.input_shape
    inp = keras.Input((h, w, c), batch_size=n, name=net.input_name)
    env, weights = {net.input_name: inp}, []
    for node in net.nodes:
        a, p, x = node.attrs, node.name, env[node.inputs[0]]
        name = p.replace(".", "_")
        if node.op == "conv2d":
            cin = shapes[node.inputs[0]][1]
            pad = _tf_padding(node, shapes[node.inputs[0]])
            kw_ = dict(strides=a["strides"], padding=pad, dilation_rate=a.get("dilation", (1, 1)), use_bias=a["bias"], name=name)
            wt = net.params[f"{p}.weight"]
            if a["groups"] == cin and a["channels"] == cin and cin > 1:
                layer = keras.layers.DepthwiseConv2D(a["kernel"], **kw_)
                vals = [wt.transpose(2, 3, 0, 1)]
            elif a["groups"] == 1:
                layer = keras.layers.Conv2D(a["channels"], a["kernel"], **kw_)
                vals = [wt.transpose(2, 3, 1, 0)]
            else:
                raise ValueError(f"layer {p!r}: grouped float conv ({a['groups']} groups) has no Larq Zoo form here")
            y = layer(x)
            vals += [net.params[f"{p}.bias"]] if a["bias"] else []
        elif node.op == "sign_conv2d":
            mult, bias = net.params[f"{p}.multiplier"], net.params[f"{p}.bias"]
            magnitude = a.get("weight_scale") == "mean_abs"
            if np.any(bias != 0) or (not magnitude and np.any(mult != 1)):
                raise ValueError(f"layer {p!r}: a QuantConv2D has no multiplier or bias (fold them into a batch norm)")
            layer = lq.layers.QuantConv2D(
                a["channels"], a["kernel"], strides=a["strides"], padding=_tf_padding(node, shapes[node.inputs[0]]),
                dilation_rate=a.get("dilation", (1, 1)), pad_values=float(a["pad_value"]), use_bias=False,
                activation="relu" if a["acc_relu"] else None, input_quantizer="ste_sign",
                kernel_quantizer="magnitude_aware_sign" if magnitude else "ste_sign", groups=a["groups"], name=name)
            y = layer(x)
            vals = [net.params[f"{p}.weight"].transpose(2, 3, 1, 0)]
        elif node.op == "batch_norm":
            scale, center = a.get("scale", True), a.get("center", True)
            layer = keras.layers.BatchNormalization(epsilon=a["eps"], scale=scale, center=center, name=name)
            y = layer(x)
            vals = ([net.params[f"{p}.gamma"]] if scale else []) + ([net.params[f"{p}.beta"]] if center else [])
            vals += [net.params[f"{p}.mean"], net.params[f"{p}.var"]]
        elif node.op == "dense":
            layer = keras.layers.Dense(a["units"], name=name)
            y = layer(x)
            vals = [net.params[f"{p}.weight"].T, net.params[f"{p}.bias"]]
        else:
            layer, vals = None, []
            if node.op == "relu":
                y = keras.layers.Activation("relu", name=name)(x)
            elif node.op == "add":
                y = keras.layers.Add(name=name)([env[i] for i in node.inputs])
            elif node.op in ("max_pool2d", "avg_pool2d"):
                pool = keras.layers.MaxPool2D if node.op == "max_pool2d" else keras.layers.AvgPool2D
                y = pool(a["kernel"], strides=a["strides"], padding=_tf_padding(node, shapes[node.inputs[0]]), name=name)(x)
            elif node.op == "global_avg_pool2d":
                y = keras.layers.AvgPool2D(tuple(shapes[node.inputs[0]][2:]), name=name)(x)
            elif node.op == "flatten":
                y = keras.layers.Flatten(name=name)(x)
            elif node.op == "softmax":
                y = keras.layers.Activation("softmax", name=name)(x)
            else:
                raise ValueError(f"layer {p!r}: op {node.op!r} has no Keras export")
        if layer is not None:
            weights.append((layer, vals))
        env[node.output] = y
    model = keras.Model(inp, env[net.output], name=net.name)
    for layer, vals in weights:
        layer.set_weights([np.asarray(v, np.float32) for v in vals])
    return model


def to_tflite(net: Net) -> bytes:
    """LCE's ``.tflite`` of ``net`` (``larq_compute_engine.convert_keras_model``)."""
    import larq_compute_engine as lce

    return lce.convert_keras_model(to_keras(net))


def main(argv=None):
    from .zoo import get_model

    parser = argparse.ArgumentParser(description="write a zoo network as an LCE .tflite (needs the [larq] extra)")
    parser.add_argument("name")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=1000)
    args = parser.parse_args(argv)
    net = get_model(args.name, seed=args.seed, image_size=args.image_size, num_classes=args.num_classes)
    with open(args.output, "wb") as f:
        f.write(to_tflite(net))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
