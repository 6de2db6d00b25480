"""Pointwise int8 conv2d on *channel words*: int32 words holding 2 or 4 consecutive input channels of
one pixel, multiplied by a broadcast word of weights with one dot-product instruction per vector.

Two instruction sets (``WORD_ISAS``, picked by the weight plan's ``layout``):

- ``"pairs"``, x86 AVX2 ``vpmaddwd``: a word is an int16 pair (channels 2r, 2r+1), 8 pixels per
  int32x8 vector, ``acc += pmaddwd(x, w)``; every product and pair sum is exact in int32.
- ``"quads"``, aarch64 ``sdot`` (``+dotprod``): a word is 4 int8 (channels 4r..4r+3, channel 4r in
  the low byte), 4 pixels per int32x4 vector, ``acc = sdot(acc, x, w)``. sdot multiplies int8 by
  int8, so uint8 activations enter shifted, ``x - 128`` (exact in int8), and the accumulator starts
  at ``128 * sum_c w[o, c]`` (a trailing row of the kernel-ready weights), which restores
  ``sum_c x[c] * w[o, c]`` exactly: every partial sum stays within int32 (``|x|, |w| <= 255``).

Used by :func:`schedules.int8_conv2d.kernel.int8_conv2d_prim_func` for 1x1 convolutions without
padding (any stride, groups, channel counts) when the family's weight plan picks it; other
geometries use the tiled direct schedule. Numerics are those of docs/numerics.md (integer accumulation
is exact; the integer epilogue is the add-then-multiply of ``schedules.common``).

Layouts (``R = ceil(Cg / K)`` words per pixel and group, ``K`` channels per word; channels past ``Cg``
are 0 in the weights, so the activation byte there never matters):

- activations, repacked by the kernel's first (parallel) stage: ``xs[n, g, r, p]`` int32 holding
  channels ``g*Cg + K*r .. g*Cg + K*r + K-1`` of pixel ``p = y * Wo + x`` (padded with garbage lanes
  up to a multiple of the pixel tile: they only feed outputs that are never stored);
- weights, kernel-ready: ``wk[ob, r, j]`` int32, the word of ``wq[ob*tile_o + j, K*r .. K*r+K-1]``
  (:func:`schedules.int8_conv2d.packing.prepare_weights`), plus, for ISAs that shift uint8 (sdot),
  a row ``r = R`` holding ``128 * sum_c wq[ob*tile_o + j, c]`` (read only for uint8 activations); with ``prepacked=False``
  the kernel
  takes the stored OIHW ``wq`` and repacks it itself (slow, tests).

Main stage: one parallel task per (n, output block of ``tile_o`` channels, pixel tile of
``tile_p`` vectors). Its ``tile_o x tile_p`` accumulators stay in registers while the word loop runs:
per word one activation vector load per pixel vector, one broadcast weight word per channel, one dot
instruction per accumulator. The epilogue is vectorized over pixels and stores NCHW rows directly
(only the ragged last vector of a row is stored lane by lane).

Fusions (parameters of :func:`build`): ``quantize=(lo, hi)`` makes the kernel take the float32
activations and ``inv_scale`` instead of ``xq``; stage 1 quantizes as it repacks
(``clip(rint(x * inv_scale), lo, hi)``, the contract of ``schedules.quantize``), so no separate
quantize kernel runs and no 8-bit tensor is written. ``residual=True`` adds a float32
``residual[n, o, y, x]`` operand in the epilogue before the ReLU. PrimFunc parameters:
``(x, w, scale, offset[, inv_scale][, residual], out)``.
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import tirx
from tvm.script import tirx as T

from schedules.int8_conv2d.packing import UNSIGNED_SHIFT, WORD_LAYOUTS


@dataclass(frozen=True)
class WordIsa:
    """One dot-product instruction over channel words."""

    layout: str  # weight-plan layout name
    lanes: int  # pixels (int32 lanes) per vector
    channels: int  # channels per int32 word
    intrinsic: str  # LLVM intrinsic
    operand: str  # vector type the word vectors are reinterpreted as
    accumulates: bool  # the intrinsic takes the accumulator (sdot) instead of returning products to add (pmaddwd)
    shifts_unsigned: bool  # uint8 activations enter as x - 128 (the instruction is signed x signed)
    registers: int  # vector registers of the ISA (bounds the register tile)

    @property
    def bits(self) -> int:
        return 32 // self.channels

    def shifted(self, x_dtype: str) -> bool:
        return self.shifts_unsigned and x_dtype == "uint8"


def _isa(layout: str, lanes: int, intrinsic: str, operand: str, accumulates: bool, registers: int) -> WordIsa:
    channels, shifts = WORD_LAYOUTS[layout]  # the weight layout facts live with prepare_weights
    return WordIsa(layout, lanes, channels, intrinsic, operand, accumulates, shifts, registers)


WORD_ISAS = {
    "pairs": _isa("pairs", 8, "llvm.x86.avx2.pmadd.wd", "int16x16", False, 16),  # AVX2: 16 ymm
    "quads": _isa("quads", 4, "llvm.aarch64.neon.sdot.v4i32.v16i8", "int8x16", True, 32),  # NEON: 32 v
}


def word_count(cg: int, channels: int) -> int:
    """Words per pixel and group: ``ceil(cg / channels)``."""
    return -(-cg // channels)


def unroll_factor(want: int, words: int) -> int:
    """Unroll factor of the word loop: the largest divisor of ``words`` that is at most ``want``."""
    ur = max(1, min(int(want), words))
    while words % ur:
        ur -= 1
    return ur


def choose_tile_o(o_per_group: int, want: int) -> int:
    return max(d for d in range(1, max(1, min(o_per_group, want)) + 1) if o_per_group % d == 0)


def choose_tile_p(positions: int, want: int, lanes: int) -> int:
    """Pixel vectors per tile: among 1..want, the one wasting fewest padded vectors (largest on ties)."""
    pv = -(-positions // lanes)
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


def build(geo: dict, x_dtype: str, *, isa: WordIsa, relu: bool, tile_o: int, tile_p: int, prepacked: bool,
          unroll_words: int, quantize=None, residual: bool = False):
    n_n, c_n, h_n, w_n = geo["n"], geo["c"], geo["h"], geo["w"]
    o_n, cg, og = geo["o"], geo["cg"], geo["og"]
    ho, wo, sh, sw = geo["ho"], geo["wo"], geo["sh"], geo["sw"]
    lanes, kw_, bits = isa.lanes, isa.channels, isa.bits
    groups = c_n // cg
    p_n = ho * wo
    rn = word_count(cg, kw_)
    shift = isa.shifted(x_dtype)
    rows = rn + 1 if isa.shifts_unsigned else rn  # weight rows per output block (+ the shift correction)
    to, tp = tile_o, tile_p
    pv = -(-p_n // lanes)
    pt_n = -(-pv // tp)
    ppad = pt_n * tp * lanes
    ob_n = o_n // to
    obg = og // to
    full = p_n // lanes * lanes  # pixels covered by whole vectors
    contiguous = sh == 1 and sw == 1 and ho == h_n and wo == w_n
    masked = x_dtype == "int8" or shift  # channel codes may be negative: mask them to their field
    with_residual = bool(residual)
    in_dtype = "float32" if quantize is not None else x_dtype
    q_lo, q_hi = (float(v) for v in quantize) if quantize is not None else (0.0, 0.0)
    hw = h_n * w_n
    tasks = n_n * ob_n * pt_n
    rep_tasks = n_n * groups * rn
    w_shape = (ob_n, rows, to) if prepacked else (o_n, cg, 1, 1)
    w_dtype = "int32" if prepacked else "int8"
    ragged = cg % kw_ != 0
    acc_t, f_t = f"int32x{lanes}", f"float32x{lanes}"
    field = (1 << bits) - 1
    ur = unroll_factor(unroll_words, rn)
    r_outer = rn // ur

    def present(value, r, k):
        """Channel ``K*r + k`` of a group, 0 past ``Cg``."""
        if ragged and k:
            return T.if_then_else(kw_ * r + k < cg, value, T.int32(0))
        return value

    def clamp_index(i, k):
        return T.min(i, n_n * c_n * hw - 1) if ragged and k else i

    def make_word(codes, signed):
        """int32 word of K channel codes (int32 each, ``signed``: may be negative), channel 0 in the
        lowest field."""
        word = None
        for k, c in enumerate(codes):
            field_k = T.bitwise_and(c, T.int32(field)) if signed and k < kw_ - 1 else c
            part = T.shift_left(field_k, T.int32(bits * k)) if k else field_k
            word = part if word is None else T.bitwise_or(word, part)
        return word

    def act_word(xflat, i, r, inv_scale):
        """Activation word of element ``i`` (channel K*r of its group) and the K-1 channels after it."""
        inv = inv_scale[0] if inv_scale is not None else None
        return make_word([present(code(xflat[clamp_index(i + k * hw, k)], inv), r, k) for k in range(kw_)], masked)

    def weight_word(wq, o, r):
        return make_word([present(T.Cast("int32", wq[o, T.min(kw_ * r + k, cg - 1), 0, 0]), r, k) for k in range(kw_)], True)

    def rep_base(t):  # first input element of the word row t = (n, g, r)
        return ((t // (groups * rn)) * c_n + (t // rn % groups) * cg + kw_ * (t % rn)) * hw

    def o_of(t, j):  # output channel of row j of task t = (n, ob, pt)
        return (t // pt_n % ob_n) * to + j

    def o_row(t, j):
        return ((t // (ob_n * pt_n)) * o_n + o_of(t, j)) * p_n

    def p_of(t, v):
        return (t % pt_n) * tp * lanes + v * lanes

    def x_base(t):
        return ((t // (ob_n * pt_n)) * groups + (t // pt_n % ob_n) // obg) * rn * ppad + (t % pt_n) * tp * lanes

    def w_base(t):
        return (t // pt_n % ob_n) * rows * to

    def epilogue(scale, offset, accv, o, n_lanes, res=None):
        """Integer epilogue (schedules.common) of an int32 vector of ``n_lanes`` lanes, channel ``o``."""
        def bc(value):
            return T.broadcast(value, n_lanes) if n_lanes > 1 else value
        accf = T.Cast(f_t if n_lanes > 1 else "float32", accv)
        y = T.Select(bc(scale[o] != T.float32(0)), (accf + bc(offset[o])) * bc(scale[o]), bc(offset[o]))
        if res is not None:  # the fence keeps LLVM from contracting the multiply into this add (FMA)
            y = T.call_llvm_pure_intrin(f_t if n_lanes > 1 else "float32", "llvm.arithmetic.fence", y) + res
        return T.max(y, bc(T.float32(0))) if relu else y

    def code(value, inv):
        """int32 of an 8-bit activation (the value itself, or its quantization: fused quantize), minus
        128 for shifted kernels."""
        if quantize is None:
            c = T.Cast("int32", value)
        else:
            c = T.Cast("int32", T.min(T.max(T.nearbyint(value * inv), T.float32(q_lo)), T.float32(q_hi)))
        return c - T.int32(UNSIGNED_SHIFT) if shift else c

    def in_index(p):
        if contiguous:
            return p
        return (p // wo) * sh * w_n + (p % wo) * sw

    def dot(acc, xv, wv):
        xo, wo_ = T.reinterpret(isa.operand, xv), T.reinterpret(isa.operand, wv)
        if isa.accumulates:
            return T.call_llvm_pure_intrin(acc_t, isa.intrinsic, acc, xo, wo_)
        return acc + T.call_llvm_pure_intrin(acc_t, isa.intrinsic, xo, wo_)

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
        # a (2,)-shaped view of inv_scale (only [0] is read): TVMScript prints a load of a (1,) buffer
        # without its index, which does not parse back (tvm-sepnet estimate re-parses kernels)
        if quantize is not None:
            inv_view = T.decl_buffer((2,), "float32", data=inv_scale.data)
        xs = T.decl_buffer((n_n * groups * rn * ppad,), "int32")
        wk = T.decl_buffer((ob_n * rows * to,), "int32")
        if prepacked:
            wflat = T.decl_buffer((ob_n * rows * to,), "int32", data=wq.data)
        else:
            wflat = wk
            for o in range(o_n):
                for r in range(rn):
                    wk[((o // to) * rows + r) * to + o % to] = weight_word(wq, o, r)
                if isa.shifts_unsigned:
                    wk[((o // to) * rows + rn) * to + o % to] = T.int32(0)
                    for c in range(cg):
                        wk[((o // to) * rows + rn) * to + o % to] = (wk[((o // to) * rows + rn) * to + o % to]
                                                                     + T.Cast("int32", wq[o, c, 0, 0]) * T.int32(UNSIGNED_SHIFT))
        # stage 1: activation words (no TVMScript assignments: they would become memory variables)
        for t in T.parallel(rep_tasks):
            if contiguous:
                for v in range(full // lanes):
                    for lane in T.vectorized(lanes):
                        xs[t * ppad + v * lanes + lane] = act_word(xflat, rep_base(t) + v * lanes + lane, t % rn,
                                                                   inv_view if quantize is not None else None)
                for q in range(p_n - full):
                    xs[t * ppad + full + q] = act_word(xflat, rep_base(t) + full + q, t % rn,
                                                       inv_view if quantize is not None else None)
            else:
                for p in range(p_n):
                    xs[t * ppad + p] = act_word(xflat, rep_base(t) + in_index(p), t % rn,
                                                inv_view if quantize is not None else None)
        # stage 2: register-tiled dot products
        for t in T.parallel(tasks):
            # on the stack (a local buffer would be a heap workspace allocated per task)
            acc = T.alloc_buffer((to * tp,), acc_t, annotations={"disable_lower_builtin": 1})
            for j in T.unroll(to):
                for v in T.unroll(tp):
                    if shift:
                        acc[j * tp + v] = T.broadcast(wflat[w_base(t) + rn * to + j], lanes)
                    else:
                        acc[j * tp + v] = T.broadcast(T.int32(0), lanes)
            for ro in range(r_outer):
                for ri in T.unroll(ur):
                    for v in T.unroll(tp):
                        for j in T.unroll(to):
                            acc[j * tp + v] = dot(
                                acc[j * tp + v],
                                xs[T.ramp(x_base(t) + (ro * ur + ri) * ppad + v * lanes, 1, lanes)],
                                T.broadcast(wflat[w_base(t) + (ro * ur + ri) * to + j], lanes))
            for j in T.unroll(to):
                for v in T.unroll(tp):
                    if p_of(t, v) + lanes <= p_n:
                        oflat[T.ramp(o_row(t, j) + p_of(t, v), 1, lanes)] = epilogue(
                            scale, offset, acc[j * tp + v], o_of(t, j), lanes,
                            rflat[T.ramp(o_row(t, j) + p_of(t, v), 1, lanes)] if with_residual else None)
                    elif p_of(t, v) < p_n:
                        for lane in T.unroll(lanes):
                            if p_of(t, v) + lane < p_n:
                                oflat[o_row(t, j) + p_of(t, v) + lane] = epilogue(
                                    scale, offset, T.Shuffle([acc[j * tp + v]], [lane]), o_of(t, j), 1,
                                    rflat[o_row(t, j) + p_of(t, v) + lane] if with_residual else None)

    unused = ([] if quantize is not None else ["inv_scale"]) + ([] if residual else ["residual"])
    return _drop_params(func, unused)
