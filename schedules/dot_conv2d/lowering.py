"""Lowering of a dot layer (``relay_passes.plan_dataflow``) to one ``dot_conv2d`` kernel call with one
output per format its consumers read. See ``schedules/float_conv2d_exact/lowering.py`` for the
``lower(lw, layer)`` interface; ``flow`` is the layer's ``LayerFlow``, ``x`` and ``residual`` the
expressions it reads (the producer's words / f32p outputs, or the float32 NCHW input)."""
from __future__ import annotations

import numpy as np

from schedules.bitserial_conv2d.packing import unpack_weights
from schedules.common import act_range
from schedules.word_layout import WORD_CHANNELS, Domain

from .kernel import DOT_ISAS, dot_conv2d_prim_func, output_dtype, output_shape
from .packing import prepare_weights


def _int8_weights(conv) -> np.ndarray:
    """The int8 values the kernel multiplies: ±1 for binary weights."""
    a = conv.attrs
    return unpack_weights(conv.w, a.channels_per_group).astype(np.int8) if a.weight_format == "binary" else conv.w


def lower(lw, layer, flow, x, residual, sibling=None):
    """The emitted tuple of the layer's outputs (``flow.outputs`` order); ``sibling = (layer, flow, x)`` of
    a dot layer computed in this kernel (its epilogue value is this layer's residual)."""
    conv = layer.conv
    a = conv.attrs
    wq = _int8_weights(conv)
    lo, hi, x_dtype = act_range(a.act["kind"], a.act["bits"])
    n, c, h, w = layer.x_shape
    isa = DOT_ISAS[flow.isa]
    specs = [s if not isinstance(s, tuple) else ("words", s[1], s[2]) for s in flow.outputs]
    float_in = flow.source == "f32"
    side = None
    if sibling is not None:
        s_layer, s_flow, _ = sibling
        sa = s_layer.conv.attrs
        side = dict(c=s_layer.x_shape[1], groups=sa.groups, kernel=sa.kernel[0], padding=sa.padding[0],
                    x_dtype=act_range(sa.act["kind"], sa.act["bits"])[2], relu=sa.relu, isa=s_flow.isa)
    kw = dict(n=n, c=c, h=h, w=w, o=a.channels, groups=a.groups, kernel=a.kernel[0], padding=a.padding[0], pad=flow.pad,
              isa=flow.isa, x_dtype=x_dtype, outputs=specs, relu=a.relu,
              residual=flow.residual_mode if residual is not None else None, in_quantizer=(lo, hi) if float_in else None,
              sibling=side)
    tiles = _tuned_tiles(lw, kw, flow, layer, sibling)
    kw.update(tiles)
    key = f"dot_conv2d({sorted(kw.items())})"
    wk = prepare_weights(wq, kw["tile_o"], isa.shift(x_dtype))
    args = [x, lw.const(wk), lw.const(layer.scale), lw.const(layer.offset)]
    if float_in:
        args.append(layer.inv_scale)
    if sibling is not None:
        s_layer, s_flow, s_x = sibling
        s_dtype = side["x_dtype"]
        args += [s_x, lw.const(prepare_weights(_int8_weights(s_layer.conv), kw["tile_o"], DOT_ISAS[s_flow.isa].shift(s_dtype))),
                 lw.const(s_layer.scale), lw.const(s_layer.offset)]
    if residual is not None:
        args.append(residual)
        if flow.residual_mode != "f32p":  # the codes' scale
            args.append(lw.const(np.array([a.residual_quant["scale"]], np.float32)))
    args += [lw.const(np.array([s[3]], np.float32)) for s in flow.outputs if isinstance(s, tuple)]
    dom = Domain(n, h, w, flow.pad)
    out_types = [(output_shape(s, n, a.channels, h, w, dom), output_dtype(s)) for s in specs]
    lw.choose(f"dot:{flow.isa}/{a.act['kind']}{a.act['bits']}" + ("(±1)" if a.weight_format == "binary" else "")
              + (f"+{flow.sibling}" if flow.sibling else ""))
    gvar = lw.kernel(key, lambda: dot_conv2d_prim_func(**kw))
    return lw.call_tir_multi(gvar, args, out_types)


def _tuned_tiles(lw, kw: dict, flow, layer, sibling) -> dict:
    """``{"tile_o", "tile_p", "unroll"}``: the layer's knobs, else tuned ones (a knob task per kernel
    geometry, ``space.py``), else the planner's."""
    default = (flow.tile_o, flow.tile_p, 1)
    kw = dict(kw)  # the kernel's arguments but its tiles (the caller adds them after)
    a = layer.conv.attrs
    ogs = [a.channels // a.groups] + ([a.channels // sibling[0].conv.attrs.groups] if sibling is not None else [])
    words = any(isinstance(s, tuple) for s in kw["outputs"]) or (kw["residual"] or "").startswith("words")
    dom_positions = kw["h"] * (kw["w"] + 2 * kw["pad"])
    geo = {"isa": kw["isa"], "og": ogs, "words": words, "rn": kw["c"] // kw["groups"] // WORD_CHANNELS, "default": default,
           "positions": dom_positions, "tasks_per_chunk": kw["n"] * kw["o"]}

    def build(point):
        tile = {**dict(zip(("tile_o", "tile_p", "unroll"), default)),
                **{k[len("dot_"):]: v for k, v in point.items()}}
        return [dot_conv2d_prim_func(**kw, **tile)]

    key = f"dot_conv2d_knobs({sorted((k, v) for k, v in kw.items())})"
    tuned = lw.tuned_knobs(key, lambda: {"kind": "dot_conv2d", "build": build, "geometry": geo, "knobs": layer.knobs})
    chosen = {**dict(zip(("dot_tile_o", "dot_tile_p", "dot_unroll"), default)), **(tuned or {}),
              **{k: v for k, v in (layer.knobs or {}).items() if k.startswith("dot_")}}
    return {"tile_o": int(chosen["dot_tile_o"]), "tile_p": int(chosen["dot_tile_p"]), "unroll": int(chosen["dot_unroll"])}
