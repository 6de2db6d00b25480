"""TIR stage that quantizes float32 NCHW into words rows of a padded domain (schedules.word_layout), for
kernels that take a float input and work on words (``dot_conv2d``'s first stage, ``word_max_pool2d`` after
a float layer).

Contract: each code is ``clip(rint(x * inv_scale), lo, hi)`` (round half to even; the contract of
:mod:`schedules.quantize`), stored in byte ``c % 4`` of word ``c // 4``; the domain's halo, guards and
slack are 0. Built inside an IRBuilder ``prim_func`` (statements, not a PrimFunc)."""
from __future__ import annotations

from tvm.script.ir_builder import tirx as T

from schedules.word_layout import WORD_CHANNELS, Domain


def quantize_to_words_stage(xin, inv, xflat, in_quantizer, n: int, r_tot: int, h: int, w: int, dom: Domain) -> None:
    """``xin``: flat float32 NCHW ``(N * 4 r_tot * H * W,)``; ``inv``: a buffer whose element 0 is the
    quantizer's ``inv_scale``; ``xflat``: flat int32 ``(N * r_tot * L,)`` rows to write; ``in_quantizer =
    (lo, hi)``."""
    lo, hi = (float(v) for v in in_quantizer)
    length, wp, pad = dom.length, dom.wp, dom.pad
    with T.parallel(0, n * r_tot) as t:
        with T.serial(0, length) as k:
            T.buffer_store(xflat, T.int32(0), [t * length + k])
        with T.serial(0, h) as y:
            with T.vectorized(0, w) as xx:
                word = None
                for k in range(WORD_CHANNELS):
                    value = xin[((t // r_tot) * r_tot * WORD_CHANNELS + (t % r_tot) * WORD_CHANNELS + k) * h * w + y * w + xx]
                    q = T.min(T.max(T.nearbyint(value * inv[0]), T.float32(lo)), T.float32(hi))
                    code = T.bitwise_and(T.Cast("int32", q), T.int32(255))
                    part = T.shift_left(code, T.int32(8 * k)) if k else code
                    word = part if word is None else T.bitwise_or(word, part)
                T.buffer_store(xflat, word, [t * length + pad + (y + pad) * wp + xx + pad])
