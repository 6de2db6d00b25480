"""Lowering of a sign layer (±1 activations, binary weights) to one ``xnor_conv2d`` kernel call. See
``schedules/float_conv2d_exact/lowering.py`` for the ``lower(lw, layer)`` interface; ``flow`` is the
layer's ``relay_passes.plan_sign_dataflow.SignFlow`` (None: float32 NCHW in and out), ``x`` the expression
it reads (its producer's bits output, or the float32 NCHW input)."""
from __future__ import annotations

from schedules.bitserial_conv2d.packing import unpack_weights

from .kernel import DEFAULT_TILES, XNOR_ISAS, choose_xnor_isa, output_dtype, output_shape, xnor_conv2d_prim_func
from .packing import padding_correction, prepare_weights
from .reference import epilogue_constants


def lower(lw, layer, flow=None, x=None):
    """The emitted call (a tuple of the ``flow.outputs`` when there are several), or the float32 NCHW
    output expression without a flow."""
    conv, a = layer.conv, layer.conv.attrs
    n, c, h, w = layer.x_shape
    _, o, ho, wo = layer.out_shape
    cg = a.channels_per_group
    kh, kw = a.kernel
    if flow is None:
        preset = lw.preset
        isa = choose_xnor_isa(preset.features, preset.machine or "x86_64")
        tile_o, tile_p = DEFAULT_TILES[isa]
        while (o // a.groups) % tile_o:
            tile_o //= 2
        outputs, float_in, pad_in, x = ["f32"], True, max(a.padding), conv.x
    else:
        isa, tile_o, tile_p, outputs = flow.isa, flow.tile_o, flow.tile_p, list(flow.outputs)
        float_in, pad_in = flow.source == "f32", flow.pad
        x = conv.x if float_in else x
    lanes = XNOR_ISAS[isa].lanes
    signs = unpack_weights(conv.w, cg)
    m2, cst = epilogue_constants(conv.w_scale, conv.bias, kh * kw * cg)
    args = [x, lw.const(prepare_weights(signs, tile_o)), lw.const(m2), lw.const(cst)]
    corr_shape = None
    if a.pad_value == 0 and max(a.padding):
        width = -(-wo // (tile_p * lanes)) * tile_p * lanes
        corr, rowcls = padding_correction(signs, conv.w_scale, h, w, ho, wo, strides=a.strides, padding=a.padding,
                                          dilation=a.dilation, width=width)
        args += [lw.const(corr), lw.const(rowcls)]
        corr_shape = corr.shape[1:]
    args += list(layer.residual)
    kw_args = dict(n=n, c=c, h=h, w=w, o=o, groups=a.groups, kernel=tuple(a.kernel), strides=tuple(a.strides),
                   padding=tuple(a.padding), dilation=tuple(a.dilation), pad_in=pad_in, isa=isa, outputs=outputs,
                   tile_o=tile_o, tile_p=tile_p, pad_value=a.pad_value, acc_relu=a.acc_relu, relu=a.relu,
                   residual=bool(layer.residual), float_in=float_in, corr_shape=corr_shape)
    key = f"xnor_conv2d({sorted((k, str(v)) for k, v in kw_args.items())})"
    src = "f32" if float_in else "bits"
    lw.choose(f"xnor:{isa}/sign(pad {a.pad_value}){'+relu(acc)' if a.acc_relu else ''} {src}->"
              + ",".join(s if s == "f32" else "bits" for s in outputs))
    gvar = lw.kernel(key, lambda: xnor_conv2d_prim_func(**kw_args))
    out_types = [(output_shape(s, n, o, ho, wo), output_dtype(s)) for s in outputs]
    if flow is None:
        return lw.call_tir(gvar, args, *out_types[0])
    return lw.call_tir_multi(gvar, args, out_types)


__all__ = ["lower"]
