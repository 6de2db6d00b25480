"""Convert a :class:`~tvm_sepnet.models.graph.Net` to a Relax ``IRModule`` with one function ``main``.

Every layer is emitted inside one dataflow block with ``name_hint`` = the layer name with ``.`` replaced
by ``_``, so the passes (``WrapConvLayers`` names conv layers after their binding) keep the zoo's names.
Op mapping:

- conv2d: ``relax.op.nn.conv2d`` (NCHW / OIHW, 4-tuple padding, dilation 1), then for a bias
  ``add(conv, bias of shape (1, O, 1, 1))`` bound as ``<layer>_bias``;
- batch_norm: ``relax.op.nn.batch_norm(..., axis=1, training=False)`` bound as ``<layer>_tuple``, then
  ``TupleGetItem(.., 0)`` bound as ``<layer>`` (``training=False`` matters: the op's default, True,
  normalizes with the batch statistics);
- relu, add, concat (axis 1), max_pool2d / avg_pool2d (``count_include_pad=False``, like ONNX),
  global_avg_pool2d as ``adaptive_avg_pool2d(output_size=(1, 1))``, flatten as ``reshape`` to (N, -),
  dense as ``matmul(x, W^T) + b``, softmax (axis 1).
"""
from __future__ import annotations

import numpy as np

from .graph import Net


def _var_name(name: str) -> str:
    return name.replace(".", "_")


def to_relax(net: Net, bind_params: bool = True):
    """The Relax ``IRModule`` of ``net``: ``main(input)`` -> output, float32, static shapes.

    With ``bind_params`` (default) the parameters are embedded as ``relax.const`` and the module is
    returned. Otherwise ``main`` takes them as extra parameters after the input, in the order of
    ``net.param_shapes()`` (function attribute ``num_input = 1``), and ``(mod, params)`` is returned, where
    ``params`` maps each parameter name to its array in that order."""
    from tvm import relax

    names = list(net.param_shapes())
    missing = [k for k in names if k not in net.params]
    if missing:
        raise ValueError(f"net {net.name!r} has no value for parameter {missing[0]!r}; initialise or load weights")
    shapes = net.shapes()
    x = relax.Var(net.input_name, relax.TensorType(tuple(net.input_shape), "float32"))
    bb = relax.BlockBuilder()
    pvars = {} if bind_params else {
        k: relax.Var(_var_name(k), relax.TensorType(tuple(net.params[k].shape), "float32")) for k in names}

    def param(key: str, shape=None, transpose=False):
        """A param as a relax expression, optionally reshaped / transposed (folded into constants)."""
        if bind_params:
            value = net.params[key].T if transpose else net.params[key]
            return relax.const(np.ascontiguousarray(value.reshape(shape) if shape else value), "float32")
        expr = pvars[key]
        if transpose:
            expr = bb.emit(relax.op.permute_dims(expr), name_hint=_var_name(key) + "_t")
        if shape:
            expr = bb.emit(relax.op.reshape(expr, shape), name_hint=_var_name(key) + "_r")
        return expr

    attrs = None if bind_params else {"num_input": 1}
    with bb.function("main", [x] + list(pvars.values()), attrs=attrs):
        with bb.dataflow():
            env = {net.input_name: x}
            for node in net.nodes:
                env[node.output] = _emit(bb, relax, node, [env[i] for i in node.inputs], shapes, param)
            out = bb.emit_output(env[net.output])
        bb.emit_func_output(out)
    mod = bb.get()
    return mod if bind_params else (mod, {k: net.params[k] for k in names})


def _sign_conv(node, x, param):
    """A sign layer as the ``sepnet.conv2d`` dialect op: packed sign bits of the weights (0 -> +1),
    ``w_scale`` = the multiplier, ``act = {"kind": "sign"}`` (docs/numerics.md, "Sign layers")."""
    from schedules.bitserial_conv2d.packing import pack_weights
    from schedules.common import pack_bits_for
    from tvm_sepnet.ops import ConvAttrs, make_conv

    a, p = node.attrs, node.name
    try:
        w, mult, bias = (param(f"{p}.{k}").value.numpy() for k in ("weight", "multiplier", "bias"))
    except AttributeError:
        raise ValueError(f"layer {p!r}: sign_conv2d needs bound parameters (to_relax(net, bind_params=True))") from None
    cin = int(x.ty.shape[1])
    attrs = ConvAttrs(name=_var_name(p), channels=a["channels"], in_channels=cin, kernel=tuple(a["kernel"]),
                      strides=tuple(a["strides"]), padding=tuple(a["padding"]), dilation=tuple(a.get("dilation", (1, 1))),
                      groups=a["groups"], weight_format="binary", act={"kind": "sign"}, pad_value=int(a["pad_value"]),
                      acc_relu=bool(a["acc_relu"]))
    signs = np.where(w < 0, -1, 1).astype(np.int8)
    return make_conv(x, pack_weights(signs, pack_bits_for(cin // a["groups"])), mult, bias, attrs)


def _emit(bb, relax, node, args, shapes, param):
    """Emit one layer; returns the var holding its output."""
    op, a, p, hint = node.op, node.attrs, node.name, _var_name(node.name)
    nn = relax.op.nn
    if op == "conv2d":
        y = bb.emit(nn.conv2d(args[0], param(f"{p}.weight"), strides=a["strides"], padding=a["padding"],
                              dilation=a.get("dilation", (1, 1)), groups=a["groups"], data_layout="NCHW",
                              kernel_layout="OIHW"),
                    name_hint=hint)
        if a["bias"]:
            y = bb.emit(relax.op.add(y, param(f"{p}.bias", (1, a["channels"], 1, 1))), name_hint=hint + "_bias")
        return y
    if op == "sign_conv2d":
        return bb.emit(_sign_conv(node, args[0], param), name_hint=hint)
    if op == "clip":
        return bb.emit(relax.op.clip(args[0], relax.PrimValue(float(a["lo"])), relax.PrimValue(float(a["hi"]))),
                       name_hint=hint)
    if op == "sign":  # -1 where x < 0, else +1 (relax's sign maps 0 to 0)
        return bb.emit(relax.op.where(relax.op.less(args[0], relax.const(0.0, "float32")), relax.const(-1.0, "float32"),
                                      relax.const(1.0, "float32")), name_hint=hint)
    if op == "batch_norm":
        stats = [param(f"{p}.{k}") for k in ("gamma", "beta", "mean", "var")]
        t = bb.emit(nn.batch_norm(args[0], *stats, axis=1, epsilon=a["eps"], training=False), name_hint=hint + "_tuple")
        return bb.emit(relax.TupleGetItem(t, 0), name_hint=hint)
    if op == "dense":
        y = bb.emit(relax.op.matmul(args[0], param(f"{p}.weight", transpose=True)), name_hint=hint)
        return bb.emit(relax.op.add(y, param(f"{p}.bias")), name_hint=hint + "_bias")
    if op == "relu":
        expr = nn.relu(args[0])
    elif op == "add":
        expr = relax.op.add(args[0], args[1])
    elif op == "concat":
        expr = relax.op.concat(args, axis=a.get("axis", 1))
    elif op in ("max_pool2d", "avg_pool2d"):
        pool = nn.max_pool2d if op == "max_pool2d" else nn.avg_pool2d
        expr = pool(args[0], pool_size=a["kernel"], strides=a["strides"], padding=a["padding"],
                    ceil_mode=bool(a.get("ceil_mode", False)), count_include_pad=False, layout="NCHW")
    elif op == "global_avg_pool2d":
        expr = nn.adaptive_avg_pool2d(args[0], output_size=(1, 1), layout="NCHW")
    elif op == "flatten":
        expr = relax.op.reshape(args[0], shapes[node.output])
    elif op == "softmax":
        expr = nn.softmax(args[0], axis=a.get("axis", 1))
    else:
        raise ValueError(f"layer {p!r}: op {op!r} has no Relax conversion")
    return bb.emit(expr, name_hint=hint)
