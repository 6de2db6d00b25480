"""Lowering of a binary layer with unsigned A-bit activations to the bitserial kernel: the producer
kernel ``quantize_bitpack_im2col`` packs the taps ``(ky, kx, c)`` of a group into ``pack_bits`` words
(docs/numerics.md, im2col bit layout), and the stored weights ``wb (O, KC, KH, KW)`` become the
kernel-ready ``wk (O, KR)`` at compile time. See ``schedules/float_conv2d_exact/lowering.py`` for the
``lower(lw, layer)`` interface."""
from __future__ import annotations

from schedules.quantize.kernel import quantize_bitpack_im2col_prim_func

from . import cpu
from .kernel import bitserial_conv2d_prim_func
from .packing import prepare_weights


def lower(lw, layer):
    conv, a, x_shape, out_shape, geo, knobs = layer.conv, layer.conv.attrs, layer.x_shape, layer.out_shape, layer.geo, layer.knobs
    pack_bits = int((knobs or {}).get("pack_bits", cpu.DEFAULT_KNOBS["pack_bits"]))
    bits, groups, cg = a.act["bits"], a.groups, a.channels_per_group
    kh, kw = int(conv.w.shape[2]), int(conv.w.shape[3])
    wk = prepare_weights(conv.w, cg, pack_bits)
    pdt = str(wk.dtype)
    pgeo = {"kernel": (kh, kw), "strides": geo["strides"], "padding": geo["padding"], "dilation": geo["dilation"]}
    xp_shape = (x_shape[0], groups, out_shape[2], bits, wk.shape[1], out_shape[3])
    qbuild = lambda family=lw.family: quantize_bitpack_im2col_prim_func(
        x_shape, bits=bits, groups=groups, pack_bits=pack_bits, family=family, **pgeo)
    xp = lw.call(f"quantize_bitpack({x_shape},{bits},{groups},{pack_bits},{pgeo})", qbuild, [conv.x, layer.inv_scale],
                 xp_shape, pdt, lw.tunable("quantize", qbuild))
    key = f"bitserial_conv2d({xp_shape},{wk.shape},{pdt},{geo['relu']},{a.residual})"
    build = lambda family=lw.family: bitserial_conv2d_prim_func(
        xp_shape, wk.shape, pdt, relu=geo["relu"], residual=a.residual, family=family, knobs=knobs)
    args = [xp, lw.const(wk), lw.const(layer.scale), lw.const(layer.offset), *layer.residual]
    return lw.call_tir(lw.kernel(key, build, lw.tunable("bitserial_conv2d", build)), args, out_shape, "float32")
