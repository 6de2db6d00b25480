"""TIR of ``word_max_pool2d``: words rows ``(N, R, L_in)`` of a domain ``(H, W, pad_in)`` -> words rows
``(N, R, L_out)`` of ``(Ho, Wo, pad_out)``, the bytewise max (``vpmaxub``) of each window's words; the
output halo and guards are 0. Requires ``padding <= pad_in`` (windows read the input's zero halo)."""
from __future__ import annotations

from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from schedules.word_layout import Domain


def word_max_pool2d_prim_func(*, n: int, r: int, h: int, w: int, pad_in: int, ho: int, wo: int, pad_out: int, pool,
                              strides, padding) -> tirx.PrimFunc:
    """PrimFunc ``(x int32[N, R, L_in]) -> int32[N, R, L_out]``."""
    kh, kw = pool
    sh, sw = strides
    top, left = padding[0], padding[1]
    if max(padding) > pad_in:
        raise ValueError(f"word_max_pool2d: pool padding {padding} exceeds the input domain's halo {pad_in}")
    d_in, d_out = Domain(n, h, w, pad_in), Domain(n, ho, wo, pad_out)
    with IRBuilder() as ib:
        with T.prim_func():
            T.func_attr({"tirx.noalias": True})
            x = T.arg("x", T.buffer((n, r, d_in.length), "int32"))
            out = T.arg("out", T.buffer((n, r, d_out.length), "int32"))
            with T.sblock("root"):  # a block body: Relax's reshape detection inspects single-input kernels
                xf = T.decl_buffer((n * r * d_in.length,), "int32", data=x.data)
                of = T.decl_buffer((n * r * d_out.length,), "int32", data=out.data)
                with T.parallel(0, n * r) as t:
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
    return ib.get()
