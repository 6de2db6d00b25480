"""TIR of ``word_max_pool2d``: words rows ``(N, R, L_in)`` of a domain ``(H, W, pad_in)`` -> words rows
``(N, R, L_out)`` of ``(Ho, Wo, pad_out)``, the bytewise max (``vpmaxub``) of each window's words; the
output halo and guards are 0. Requires ``padding <= pad_in`` (windows read the input's zero halo).

With ``in_quantizer = (lo, hi)`` (``lo >= 0``) the input is float32 NCHW, quantized to words by a first
stage (``schedules.quantize.words``) into a domain whose halo is the pool's padding: for an unsigned
quantizer, max of the codes (padding code 0) = code of the max of the floats (padding -inf)."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from schedules.quantize.words import quantize_to_words_stage
from schedules.word_layout import Domain


def word_max_pool2d_prim_func(*, n: int, r: int, h: int, w: int, pad_in: int, ho: int, wo: int, pad_out: int, pool,
                              strides, padding, in_quantizer=None) -> tirx.PrimFunc:
    """PrimFunc ``(x int32[N, R, L_in]) -> int32[N, R, L_out]``, or with ``in_quantizer``
    ``(x float32[N, 4R, H, W], inv_scale float32[1]) -> int32[N, R, L_out]`` (``pad_in`` is then ignored:
    the quantized input's halo is the pool's padding)."""
    kh, kw = pool
    sh, sw = strides
    top, left = padding[0], padding[1]
    float_in = in_quantizer is not None
    if float_in:
        if in_quantizer[0] < 0:
            raise ValueError("word_max_pool2d: a float input needs an unsigned quantizer (code 0 pads the windows)")
        pad_in = max(padding)
    if max(padding) > pad_in:
        raise ValueError(f"word_max_pool2d: pool padding {padding} exceeds the input domain's halo {pad_in}")
    d_in, d_out = Domain(n, h, w, pad_in), Domain(n, ho, wo, pad_out)
    with IRBuilder() as ib:
        with T.prim_func():
            T.func_attr({"tirx.noalias": True})
            if float_in:
                x = T.arg("x", T.buffer((n, 4 * r, h, w), "float32"))
                inv = T.arg("inv_scale", T.buffer((1,), "float32"))
            else:
                x = T.arg("x", T.buffer((n, r, d_in.length), "int32"))
            out = T.arg("out", T.buffer((n, r, d_out.length), "int32"))
            with T.sblock("root"):  # a block body: Relax's reshape detection inspects single-input kernels
                of = T.decl_buffer((n * r * d_out.length,), "int32", data=out.data)
                if float_in:
                    xin = T.decl_buffer((n * 4 * r * h * w,), "float32", data=x.data)
                    inv_view = T.decl_buffer((2,), "float32", data=inv.data)  # (see dot_conv2d: re-parsable loads)
                    xf = T.decl_buffer((n * r * d_in.length,), "int32")
                    quantize_to_words_stage(xin, inv_view, xf, in_quantizer, n, r, h, w, d_in)
                else:
                    xf = T.decl_buffer((n * r * d_in.length,), "int32", data=x.data)
                _pool_words(xf, of, n * r, d_in, d_out, (kh, kw), (sh, sw), (top, left), ho, wo)
    return ib.get()


def _pool_words(xf, of, rows: int, d_in: Domain, d_out: Domain, pool, strides, offsets, ho: int, wo: int) -> None:
    (kh, kw), (sh, sw), (top, left) = pool, strides, offsets
    pad_in, pad_out = d_in.pad, d_out.pad
    with T.parallel(0, rows) as t:
        with T.serial(0, d_out.length) as k:  # halo, guards and slack 0
            T.buffer_store(of, T.int32(0), [t * d_out.length + k])
        with T.serial(0, ho) as yo:
            best = None
            for ky in range(kh):
                for kx in range(kw):
                    start = t * d_in.length + d_in.pad + (yo * sh + ky - top + pad_in) * d_in.wp + kx - left + pad_in
                    words = xf[T.ramp(start, sw, wo) if wo > 1 else start]
                    codes = T.reinterpret(f"uint8x{4 * wo}", words)
                    best = codes if best is None else T.max(best, codes)
            dst = t * d_out.length + d_out.pad + (yo + pad_out) * d_out.wp + pad_out
            T.buffer_store(of, T.reinterpret("int32" if wo == 1 else f"int32x{wo}", best),
                           [T.ramp(dst, 1, wo) if wo > 1 else dst])
