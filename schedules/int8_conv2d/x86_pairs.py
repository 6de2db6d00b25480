"""x86 (AVX2) pointwise int8 conv2d built on ``vpmaddwd`` (int16 pairs -> int32, exact).

Used by :func:`schedules.int8_conv2d.kernel.int8_conv2d_prim_func` for 1x1 convolutions without
padding (any stride, groups, channel counts); other geometries use the tiled schedule of
:mod:`schedules.int8_conv2d.x86`. Numerics are those of docs/numerics.md: every product
``int16(x) * int16(w)`` and every pair sum is exact in int32 (``|x|, |w| <= 255``), and the integer
epilogue is the add-then-multiply of ``schedules.common``.

Layouts (``R2 = ceil(Cg / 2)`` channel pairs per group, the odd channel's partner is 0):

- activations, repacked by the kernel's first (parallel) stage: ``xs[n, g, r, p]`` int32 whose low
  int16 is ``xq[n, g*Cg + 2r, p]`` and high int16 ``xq[n, g*Cg + 2r + 1, p]`` (``p = y * Wo + x``,
  padded with garbage lanes up to a multiple of the pixel tile: they only feed outputs that are never
  stored);
- weights, kernel-ready: ``wk[ob, r, j]`` int32 = the int16 pair ``(wq[ob*tile_o + j, 2r],
  wq[ob*tile_o + j, 2r + 1])`` (:func:`schedules.int8_conv2d.packing.prepare_weights`); with
  ``prepacked=False`` the kernel takes the stored OIHW ``wq`` and repacks it itself (slow, tests).

Main stage: one parallel task per (n, output block of ``tile_o`` channels, pixel tile of
``tile_p`` vectors of 8 pixels). Its ``tile_o x tile_p`` int32x8 accumulators stay in registers while
the pair loop runs: per pair one int32x8 activation load per pixel vector, one broadcast weight pair
per channel, one ``vpmaddwd`` + ``vpaddd`` per accumulator. The epilogue is vectorized over pixels
and stores NCHW rows directly (only the ragged last vector of a row is stored lane by lane).

Fusions (parameters of :func:`build`): ``quantize=(lo, hi)`` makes the kernel take the float32
activations and ``inv_scale`` instead of ``xq``; stage 1 quantizes as it repacks
(``clip(rint(x * inv_scale), lo, hi)``, the contract of ``schedules.quantize``), so no separate
quantize kernel runs and no 8-bit tensor is written. ``residual=True`` adds a float32
``residual[n, o, y, x]`` operand in the epilogue before the ReLU. PrimFunc parameters:
``(x, w, scale, offset[, inv_scale][, residual], out)``.
"""
from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T

LANES = 8  # int32 lanes of a 256-bit register
PMADDWD = "llvm.x86.avx2.pmadd.wd"


def pair_count(cg: int) -> int:
    return (cg + 1) // 2


def choose_tile_o(o_per_group: int, want: int) -> int:
    return max(d for d in range(1, max(1, min(o_per_group, want)) + 1) if o_per_group % d == 0)


def choose_tile_p(positions: int, want: int) -> int:
    """Pixel vectors per tile: among 1..want, the one wasting fewest padded vectors (largest on ties)."""
    pv = -(-positions // LANES)
    best = None
    for tp in range(1, max(1, want) + 1):
        waste = -(-pv // tp) * tp - pv
        key = (waste, -tp)
        if best is None or key < best[0]:
            best = (key, tp)
    return best[1]


def _drop_params(func, names):
    """``func`` without the (unused) buffer parameters called ``names``."""
    keep = [p for p in func.params if p.name not in names]
    return tirx.PrimFunc(keep, func.body, func.ret_type, func.attrs)


def build(geo: dict, x_dtype: str, *, relu: bool, tile_o: int, tile_p: int, prepacked: bool, unroll_pairs: int,
          quantize=None, residual: bool = False):
    n_n, c_n, h_n, w_n = geo["n"], geo["c"], geo["h"], geo["w"]
    o_n, cg, og = geo["o"], geo["cg"], geo["og"]
    ho, wo, sh, sw = geo["ho"], geo["wo"], geo["sh"], geo["sw"]
    groups = c_n // cg
    p_n = ho * wo
    r2 = pair_count(cg)
    to, tp = tile_o, tile_p
    pv = -(-p_n // LANES)
    pt_n = -(-pv // tp)
    ppad = pt_n * tp * LANES
    ob_n = o_n // to
    obg = og // to
    full = p_n // LANES * LANES  # pixels covered by whole vectors
    contiguous = sh == 1 and sw == 1 and ho == h_n and wo == w_n
    signed = x_dtype == "int8"
    with_residual = bool(residual)
    in_dtype = "float32" if quantize is not None else x_dtype
    q_lo, q_hi = (float(v) for v in quantize) if quantize is not None else (0.0, 0.0)
    hw = h_n * w_n
    tasks = n_n * ob_n * pt_n
    rep_tasks = n_n * groups * r2
    w_shape = (ob_n, r2, to) if prepacked else (o_n, cg, 1, 1)
    w_dtype = "int32" if prepacked else "int8"
    odd = cg % 2 == 1
    ur = max(1, min(int(unroll_pairs), r2))
    while r2 % ur:
        ur -= 1
    r_outer = r2 // ur

    def hi_of(value, r):
        """The odd channel of a pair, 0 past ``Cg`` (the index is clamped by the caller)."""
        if odd:
            return T.if_then_else(2 * r + 1 < cg, value, T.int32(0))
        return value

    def hi_index(i):
        return T.min(i, n_n * c_n * hw - 1) if odd else i

    def rep_base(t):  # first input element of the pair row t = (n, g, r)
        return ((t // (groups * r2)) * c_n + (t // r2 % groups) * cg + 2 * (t % r2)) * hw

    def o_of(t, j):  # output channel of row j of task t = (n, ob, pt)
        return (t // pt_n % ob_n) * to + j

    def o_row(t, j):
        return ((t // (ob_n * pt_n)) * o_n + o_of(t, j)) * p_n

    def p_of(t, v):
        return (t % pt_n) * tp * LANES + v * LANES

    def x_base(t):
        return ((t // (ob_n * pt_n)) * groups + (t // pt_n % ob_n) // obg) * r2 * ppad + (t % pt_n) * tp * LANES

    def w_base(t):
        return (t // pt_n % ob_n) * r2 * to

    def epilogue(scale, offset, accv, o, lanes, res=None):
        """Integer epilogue (schedules.common) of an int32 vector of ``lanes`` lanes, channel ``o``."""
        def bc(value):
            return T.broadcast(value, lanes) if lanes > 1 else value
        accf = T.Cast("float32x8" if lanes > 1 else "float32", accv)
        y = T.Select(bc(scale[o] != T.float32(0)), (accf + bc(offset[o])) * bc(scale[o]), bc(offset[o]))
        if res is not None:  # the fence keeps LLVM from contracting the multiply into this add (FMA)
            y = T.call_llvm_pure_intrin("float32x8" if lanes > 1 else "float32", "llvm.arithmetic.fence", y) + res
        return T.max(y, bc(T.float32(0))) if relu else y

    def code(value, inv):
        """int32 of an 8-bit activation: the value itself, or its quantization (fused quantize)."""
        if quantize is None:
            return T.Cast("int32", value)
        return T.Cast("int32", T.min(T.max(T.nearbyint(value * inv), T.float32(q_lo)), T.float32(q_hi)))

    def in_index(p):
        if contiguous:
            return p
        return (p // wo) * sh * w_n + (p % wo) * sw

    def pair_word(lo, hi):
        """int32 with int16 lo / hi halves (lo, hi already int32 of the 8-bit values)."""
        if signed:
            return T.bitwise_or(T.bitwise_and(lo, T.int32(0xFFFF)), T.shift_left(hi, T.int32(16)))
        return T.bitwise_or(lo, T.shift_left(hi, T.int32(16)))

    @T.prim_func(private=True)
    def func(
        xq: T.Buffer((n_n, c_n, h_n, w_n), in_dtype),
        wq: T.Buffer(w_shape, w_dtype),
        scale: T.Buffer((o_n,), "float32"),
        offset: T.Buffer((o_n,), "float32"),
        inv_scale: T.Buffer((1,), "float32"),
        residual: T.Buffer((n_n, o_n, ho, wo), "float32"),
        out: T.Buffer((n_n, o_n, ho, wo), "float32"),
    ):
        T.func_attr({"tirx.noalias": True})
        xflat = T.decl_buffer((n_n * c_n * hw,), in_dtype, data=xq.data)
        oflat = T.decl_buffer((n_n * o_n * p_n,), "float32", data=out.data)
        if with_residual:
            rflat = T.decl_buffer((n_n * o_n * p_n,), "float32", data=residual.data)
        xs = T.decl_buffer((n_n * groups * r2 * ppad,), "int32")
        wk = T.decl_buffer((ob_n * r2 * to,), "int32")
        if prepacked:
            wflat = T.decl_buffer((ob_n * r2 * to,), "int32", data=wq.data)
        else:
            wflat = wk
            for o in range(o_n):
                for r in range(r2):
                    wk[((o // to) * r2 + r) * to + o % to] = T.bitwise_or(T.bitwise_and(T.Cast("int32", wq[o, 2 * r, 0, 0]), T.int32(0xFFFF)), T.shift_left(hi_of(T.Cast("int32", wq[o, T.min(2 * r + 1, cg - 1), 0, 0]), r), T.int32(16)))
        # stage 1: activation pairs (no TVMScript assignments: they would become memory variables)
        for t in T.parallel(rep_tasks):
            if contiguous:
                for v in range(full // LANES):
                    for l in T.vectorized(LANES):
                        xs[t * ppad + v * LANES + l] = pair_word(
                            code(xflat[rep_base(t) + v * LANES + l], inv_scale[0]),
                            hi_of(code(xflat[hi_index(rep_base(t) + hw + v * LANES + l)], inv_scale[0]), t % r2))
                for q in range(p_n - full):
                    xs[t * ppad + full + q] = pair_word(
                        code(xflat[rep_base(t) + full + q], inv_scale[0]),
                        hi_of(code(xflat[hi_index(rep_base(t) + hw + full + q)], inv_scale[0]), t % r2))
            else:
                for p in range(p_n):
                    xs[t * ppad + p] = pair_word(
                        code(xflat[rep_base(t) + in_index(p)], inv_scale[0]),
                        hi_of(code(xflat[hi_index(rep_base(t) + hw + in_index(p))], inv_scale[0]), t % r2))
        # stage 2: register-tiled vpmaddwd
        for t in T.parallel(tasks):
            acc = T.decl_buffer((to * tp,), "int32x8", scope="local")
            for j in T.unroll(to):
                for v in T.unroll(tp):
                    acc[j * tp + v] = T.broadcast(T.int32(0), LANES)
            for ro in range(r_outer):
                for ri in T.unroll(ur):
                    for v in T.unroll(tp):
                        for j in T.unroll(to):
                            acc[j * tp + v] = acc[j * tp + v] + T.call_llvm_pure_intrin(
                                "int32x8",
                                PMADDWD,
                                T.reinterpret("int16x16", xs[T.ramp(x_base(t) + (ro * ur + ri) * ppad + v * LANES, 1, LANES)]),
                                T.reinterpret("int16x16", T.broadcast(wflat[w_base(t) + (ro * ur + ri) * to + j], LANES)),
                            )
            for j in T.unroll(to):
                for v in T.unroll(tp):
                    if p_of(t, v) + LANES <= p_n:
                        oflat[T.ramp(o_row(t, j) + p_of(t, v), 1, LANES)] = epilogue(
                            scale, offset, acc[j * tp + v], o_of(t, j), LANES,
                            rflat[T.ramp(o_row(t, j) + p_of(t, v), 1, LANES)] if with_residual else None)
                    elif p_of(t, v) < p_n:
                        for l in T.unroll(LANES):
                            if p_of(t, v) + l < p_n:
                                oflat[o_row(t, j) + p_of(t, v) + l] = epilogue(
                                    scale, offset, T.Shuffle([acc[j * tp + v]], [l]), o_of(t, j), 1,
                                    rflat[o_row(t, j) + p_of(t, v) + l] if with_residual else None)

    unused = ([] if quantize is not None else ["inv_scale"]) + ([] if residual else ["residual"])
    return _drop_params(func, unused)
