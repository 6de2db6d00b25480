"""Lowering of int8 layers (and of binary layers whose ±1 weights run as int8, ``impl="int8"``) to the
int8 conv kernel: ``quantize`` then ``int8_conv2d`` on the kernel-ready weights of its plan, the
quantize fused into the kernel when the plan allows (``fuses_quantize``: the channel-word kernel).
Pointwise convs that could use the channel-word kernel are registered as knob tasks (their algorithm
and register tile are tuned by knob search, tvm_sepnet.autotune); their key names the geometry, not the
algorithm or tile. See ``schedules/float_conv2d_exact/lowering.py`` for the ``lower(lw, layer)``
interface."""
from __future__ import annotations

import numpy as np

from schedules.bitserial_conv2d.packing import unpack_weights
from schedules.common import act_range
from schedules.families import default_knobs
from schedules.quantize.kernel import quantize_prim_func

from .compute import conv_geometry
from .cpu import pointwise_knob_space
from .kernel import fuses_quantize, int8_conv2d_prim_func, int8_conv2d_weight_plan
from .packing import prepare_weights


def lower(lw, layer):
    """An int8-weight layer with 8-bit (unsigned or signed) activations."""
    act = layer.conv.attrs.act
    return _int8_conv(lw, layer, layer.conv.w, act_range(act["kind"], act["bits"]))


def lower_binary(lw, layer):
    """A binary layer run by the int8 kernel: ±1 weights expanded to int8, the A-bit activations as
    uint8 (the same integers as the bitserial kernel's)."""
    a = layer.conv.attrs
    signs = unpack_weights(layer.conv.w, a.channels_per_group).astype(np.int8)
    lw.choose(f"int8(±1)/uint{a.act['bits']}")
    return _int8_conv(lw, layer, signs, act_range("uint", a.act["bits"]))


def _int8_conv(lw, layer, wq, qrange):
    x, x_shape, geo, res = layer.conv.x, layer.x_shape, layer.geo, layer.residual
    lo, hi, qdtype = qrange
    conv_geo = {k: v for k, v in geo.items() if k != "relu"}
    knobs = _pointwise_knobs(lw, x_shape, qdtype, wq.shape, geo, conv_geo, qrange, bool(res), layer.knobs)
    plan = int8_conv2d_weight_plan(x_shape, wq.shape, family=lw.family, knobs=knobs, **conv_geo)
    wk = prepare_weights(wq, plan)  # kernel-ready layout (the stored wq when plan is None)
    fused = fuses_quantize(plan)
    consts = [lw.const(wk), lw.const(layer.scale), lw.const(layer.offset)]
    if fused:
        args = [x, *consts, layer.inv_scale, *res]
    else:
        qbuild = lambda family=lw.family: quantize_prim_func(x_shape, lo=lo, hi=hi, out_dtype=qdtype, family=family)
        xq = lw.call(f"quantize({x_shape},{lo},{hi},{qdtype})", qbuild, [x, layer.inv_scale], x_shape, qdtype,
                     lw.tunable("quantize", qbuild))
        args = [xq, *consts, *res]
    quantize = (lo, hi) if fused else None
    key = f"int8_conv2d({x_shape},{qdtype},{wq.shape},{geo},{plan},{quantize},{bool(res)})"
    build = lambda family=lw.family: int8_conv2d_prim_func(
        x_shape, qdtype, wq.shape, family=family, knobs=knobs, prepacked=True, residual=bool(res),
        quantize=quantize, **geo)
    # the direct (tiled) kernel has a MetaSchedule space; the channel-word kernel is TIR written by hand
    tunable = lw.tunable("int8_conv2d", build) if plan is None else None
    return lw.call_tir(lw.kernel(key, build, tunable), args, layer.out_shape, "float32")


def _pointwise_knobs(lw, x_shape, qdtype, w_shape, geo, conv_geo, qrange, residual: bool, knobs):
    """The layer's knobs, with the tuned algorithm / channel-word tile under them (a layer's own knobs
    win); registers the conv as a knob task when it could use the channel-word kernel."""
    lo, hi, _ = qrange
    key = f"int8_conv2d_pointwise({x_shape},{qdtype},{w_shape},{geo},{(lo, hi)},{residual})"

    def make_task():
        geometry = conv_geometry(x_shape, w_shape, **conv_geo)
        if not pointwise_knob_space(geometry, {**default_knobs("int8_conv2d", lw.family), **(knobs or {})}):
            return None  # no channel-word kernel for this conv or family: nothing to choose
        layer_knobs = knobs

        def build(point, family=lw.family):
            """The kernels of knob setting ``point``: [conv] or, where the conv cannot quantize its
            input itself, [quantize, conv] (the model runs both)."""
            merged = {**(layer_knobs or {}), **point}
            plan = int8_conv2d_weight_plan(x_shape, w_shape, family=family, knobs=merged, **conv_geo)
            fused = fuses_quantize(plan)
            conv = int8_conv2d_prim_func(x_shape, qdtype, w_shape, family=family, knobs=merged, prepacked=True,
                                         residual=residual, quantize=(lo, hi) if fused else None, **geo)
            if fused:
                return [conv]
            return [quantize_prim_func(x_shape, lo=lo, hi=hi, out_dtype=qdtype, family=family), conv]

        return {"kind": "int8_conv2d_pointwise", "build": build, "geometry": geometry, "knobs": knobs}

    tuned = lw.tuned_knobs(key, make_task)
    return {**tuned, **(knobs or {})} if tuned else knobs
