"""Lowering of a float layer (float weights and activations, float64 accumulation) to this op's kernel.

``lower(lw, layer)`` is called by ``relay_passes.LowerToKernels`` (its table ``LAYER_LOWERINGS``):
``layer`` is the layer being lowered (``relay_passes.lower_to_kernels.LayerToLower``), ``lw`` the
lowering context (``kernel``, ``call``, ``call_tir``, ``const``, ``tunable``, ``family``).
"""
from __future__ import annotations

from schedules.families import feature_knobs

from .kernel import float_conv2d_exact_prim_func


def lower(lw, layer):
    conv, x_shape, geo = layer.conv, layer.x_shape, layer.geo
    features = lw.preset.features if lw.preset is not None else ()
    o_per_group = conv.w.shape[0] // geo["groups"]
    knobs = {**feature_knobs("float_conv2d_exact", lw.family, features, o_per_group), **(layer.knobs or {})} or None
    key = f"float_conv2d_exact({x_shape},{conv.w.shape},{geo})"
    build = lambda family=lw.family: float_conv2d_exact_prim_func(x_shape, conv.w.shape, family=family, knobs=knobs,
                                                                  **geo)
    gvar = lw.kernel(key, build, lw.tunable("float_conv2d_exact", build))
    return lw.call_tir(gvar, [conv.x, lw.const(conv.w), lw.const(conv.bias)], layer.out_shape, "float32")
