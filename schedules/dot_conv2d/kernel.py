"""TIR of ``dot_conv2d``: a grouped stride-1 ``KxK`` (or 1x1) conv on channel words in a padded
domain (:mod:`schedules.word_layout`), one dot-product instruction per vector of pixels.

Contract: :mod:`.reference`. Layouts: activations ``x`` are ``words`` rows ``(N, C / 4, L)`` of the
domain (or float32 NCHW quantized by the kernel's first stage, ``in_quantizer``); weights are
:func:`.packing.prepare_weights`; the residual is ``f32p`` rows ``(N, O, L)``; outputs are any of

- ``"f32p"``: float32 rows ``(N, O, L)`` of the domain (halo 0);
- ``"f32"``: float32 NCHW ``(N, O, H, W)``;
- ``("words", lo, hi)``: the result quantized with the output's ``inv_scale`` parameter to codes in
  ``[lo, hi]`` (uint8 when ``lo >= 0``, else int8), as ``words`` rows ``(N, O / 4, L)`` (halo 0).

Every output is computed from the same float32 epilogue value, so each consumer gets exactly what
quantizing the float output would give (bit-exact with the reference executor).

Schedule: parallel tasks over (image, block of ``tile_o`` output channels of one group, chunk of the
interior rows' positions); each task keeps ``tile_o x tile_p`` int32 vector accumulators in registers
over the taps and words; per tap and word, ``tile_p`` vector loads at the tap's constant offset (no
bounds test: the halo is zero) and ``tile_o`` broadcast weight words. The epilogue masks the halo
positions of the computed rows to 0; a first loop zeroes the padded outputs' halo rows. The register tile's
loops are unrolled in Python (constant indices: LLVM keeps the accumulators in registers).

ISAs (:data:`DOT_ISAS`): ``vnni512`` (AVX-512 VNNI ``vpdpbusd``: uint8 x int8, 16 pixels per zmm),
``ubsw512`` / ``ubsw256`` (``vpmaddubsw`` + ``vpmaddwd``: exact only when the weights' pair sums fit
int16, see :func:`.packing.pair_sums_fit_int16`), ``sdot`` (aarch64 ``+dotprod``: int8 x int8, 4
pixels per vector), ``generic512`` / ``generic256`` / ``generic128`` (the byte products written as plain
int32 arithmetic: LLVM picks the instructions). An instruction whose activation operand has the other
signedness takes the codes shifted (``x ^ 0x80`` per byte) with the shift's correction in the
accumulator's start value (the weights' last row).
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from schedules.quantize.words import quantize_to_words_stage
from schedules.word_layout import SLACK, WORD_CHANNELS, Domain


@dataclass(frozen=True)
class DotIsa:
    """A dot product of 4 uint8/int8 bytes by 4 int8 bytes per int32 lane, accumulated in int32."""

    name: str
    lanes: int  # pixels (int32 lanes) per vector
    kind: str  # vnni | ubsw | sdot | generic
    x_signed: bool  # the instruction's activation operand is signed (sdot) or unsigned (vnni, ubsw)
    registers: int  # vector registers (bounds tile_o * tile_p)
    requires: tuple = ()  # CPU flags of the instruction (/proc/cpuinfo names, x86; or aarch64 HWCAP)

    def shift(self, x_dtype: str) -> int:
        """The activation shift (added to every byte) this instruction needs for ``x_dtype`` codes."""
        if self.kind == "generic":
            return 0
        if self.x_signed and x_dtype == "uint8":
            return -128
        if not self.x_signed and x_dtype == "int8":
            return 128
        return 0


DOT_ISAS = {
    "vnni512": DotIsa("vnni512", 16, "vnni", False, 32, ("avx512_vnni",)),
    "ubsw512": DotIsa("ubsw512", 16, "ubsw", False, 32, ("avx512bw",)),
    "ubsw256": DotIsa("ubsw256", 8, "ubsw", False, 16, ("avx2",)),
    "sdot": DotIsa("sdot", 4, "sdot", True, 32, ("asimddp",)),
    "generic512": DotIsa("generic512", 16, "generic", False, 32),
    "generic256": DotIsa("generic256", 8, "generic", False, 16),
    "generic128": DotIsa("generic128", 4, "generic", False, 32),
}


SHIFT_WORD = -2139062144  # 0x80808080 as int32: flips every byte's top bit (+-128 per byte)


def _bc(value, lanes: int):
    return T.broadcast(value, lanes)


def _byte(v, k: int, signed: bool, lanes: int):
    """Byte ``k`` of every int32 lane of ``v``, sign- or zero-extended to int32."""
    if signed:  # move byte k to the top, then shift it back down arithmetically
        return T.shift_right(T.shift_left(v, _bc(T.int32(24 - 8 * k), lanes)), _bc(T.int32(24), lanes))
    return T.bitwise_and(T.shift_right(v, _bc(T.int32(8 * k), lanes)), _bc(T.int32(255), lanes))


def dot_function(isa: DotIsa, x_dtype: str):
    """``dot(acc, xv, wv)``: per int32 lane, ``acc + sum_k byte_k(xv) * byte_k(wv)`` (``xv`` already
    shifted for the instruction: :meth:`DotIsa.shift`)."""
    lanes = isa.lanes
    acc_t = f"int32x{lanes}"
    if isa.kind == "vnni":
        return lambda acc, xv, wv: T.call_llvm_pure_intrin(
            acc_t, "llvm.x86.avx512.vpdpbusd.512", acc, T.reinterpret("int8x64", xv), T.reinterpret("int8x64", wv))
    if isa.kind == "ubsw":
        ub, wd, nb = (("llvm.x86.avx512.pmaddubs.w.512", "llvm.x86.avx512.pmaddw.d.512", 64) if lanes == 16 else
                      ("llvm.x86.avx2.pmadd.ub.sw", "llvm.x86.avx2.pmadd.wd", 32))

        def ubsw(acc, xv, wv):
            pairs = T.call_llvm_pure_intrin(f"int16x{nb // 2}", ub, T.reinterpret(f"int8x{nb}", xv),
                                            T.reinterpret(f"int8x{nb}", wv))
            return acc + T.call_llvm_pure_intrin(acc_t, wd, pairs, _bc(T.int16(1), nb // 2))

        return ubsw
    if isa.kind == "sdot":
        return lambda acc, xv, wv: T.call_llvm_pure_intrin(
            acc_t, "llvm.aarch64.neon.sdot.v4i32.v16i8", acc, T.reinterpret("int8x16", xv), T.reinterpret("int8x16", wv))
    x_signed = x_dtype == "int8"

    def generic(acc, xv, wv):
        out = acc
        for k in range(WORD_CHANNELS):
            out = out + _byte(xv, k, x_signed, lanes) * _byte(wv, k, True, lanes)
        return out

    return generic


def output_shape(spec, n: int, o: int, h: int, w: int, dom: Domain) -> tuple:
    """Shape of an output of ``spec`` (see the module docstring)."""
    if spec == "f32p":
        return (n, o, dom.length)
    if spec == "f32":
        return (n, o, h, w)
    return (n, o // WORD_CHANNELS, dom.length)


def output_dtype(spec) -> str:
    return "int32" if isinstance(spec, tuple) else "float32"


@dataclass(frozen=True)
class ConvBranch:
    """One convolution a kernel accumulates: its input words and weight rows."""

    c: int
    groups: int
    kernel: int
    padding: int
    x_dtype: str
    isa: str

    @property
    def rn(self) -> int:  # words per pixel and group
        return self.c // self.groups // WORD_CHANNELS

    @property
    def r_tot(self) -> int:
        return self.c // WORD_CHANNELS

    @property
    def taps(self) -> int:
        return self.kernel * self.kernel

    @property
    def rows_w(self) -> int:
        return self.taps * self.rn + 1

    def check(self, o: int, pad: int, tile_o: int) -> None:
        if self.c % self.groups or o % self.groups or (self.c // self.groups) % WORD_CHANNELS:
            raise ValueError(f"dot_conv2d wants input channels per group a multiple of {WORD_CHANNELS}: "
                             f"C={self.c}, groups={self.groups}")
        if self.padding > pad or (self.kernel > 1 and self.kernel != 2 * self.padding + 1) or (self.kernel == 1 and self.padding):
            raise ValueError(f"dot_conv2d: kernel {self.kernel} with padding {self.padding} in a domain of halo {pad} "
                             "is not a 'same' conv")
        if (o // self.groups) % tile_o:
            raise ValueError(f"tile_o {tile_o} must divide O/groups = {o // self.groups}")
        if self.x_dtype not in ("uint8", "int8"):
            raise ValueError(f"x_dtype must be uint8 or int8, got {self.x_dtype}")


def dot_conv2d_prim_func(*, n: int, c: int, h: int, w: int, o: int, groups: int, kernel: int, padding: int, pad: int,
                         isa: str, x_dtype: str, outputs, tile_o: int, tile_p: int, relu: bool = False,
                         residual=None, in_quantizer=None, sibling: dict | None = None, unroll: int = 1) -> tirx.PrimFunc:
    """PrimFunc ``(x, wk, scale, offset[, inv_in][, x2, wk2, scale2, offset2][, residual[, res_scale]],
    inv_out..., out...)`` (module docstring).

    ``kernel``: KH = KW; ``padding``: the conv's zero padding (``<= pad``, the domain's halo);
    ``outputs``: the output specs; ``in_quantizer = (lo, hi)``: ``x`` is float32 NCHW, quantized with
    the ``inv_in`` parameter to ``x_dtype`` codes; ``tile_o`` output channels (a divisor of
    ``O / groups``, a multiple of 4 when a ``words`` output is asked) x ``tile_p`` vectors of pixels per
    register tile; ``unroll``: unroll factor of the word loop. One ``inv_out`` parameter (float32
    ``(1,)``) per ``words`` output, in order.

    ``residual``: None, ``"f32p"`` (float32 rows ``(N, O, L)``) or ``"words_u8"`` / ``"words_s8"`` (the
    residual as uint8 / int8 codes: words rows ``(N, O / 4, L)`` and a ``res_scale`` (1,) parameter; the
    value is ``float32(code) * scale``).
    ``sibling``: a second conv on the same grid whose epilogue result is this layer's residual, computed
    in this kernel (the pattern residual block's k×k branch): ``dict(c, groups, kernel, padding,
    x_dtype, relu[, isa])``, its words ``x2``, weights ``wk2`` (the same ``tile_o``) and epilogue ``scale2``,
    ``offset2``; ``y = relu?(fence(epilogue(acc)) + relu2?(epilogue2(acc2)))``."""
    dot_isa = DOT_ISAS[isa]
    outputs = list(outputs)
    if not outputs:
        raise ValueError("dot_conv2d needs at least one output")
    main = ConvBranch(c, groups, kernel, padding, x_dtype, isa)
    main.check(o, pad, tile_o)
    side = None
    if sibling is not None:
        if residual is not None:
            raise ValueError("dot_conv2d: a layer has one residual: a sibling conv or a residual operand")
        side = ConvBranch(sibling["c"], sibling["groups"], sibling["kernel"], sibling["padding"], sibling["x_dtype"],
                          sibling.get("isa", isa))
        side.check(o, pad, tile_o)
        if DOT_ISAS[side.isa].lanes != dot_isa.lanes:
            raise ValueError(f"the sibling's ISA {side.isa} and {isa} have different vector lanes")
    words_out = [s for s in outputs if isinstance(s, tuple)]
    if words_out and tile_o % WORD_CHANNELS:
        raise ValueError(f"tile_o {tile_o} must be a multiple of {WORD_CHANNELS} for words outputs")
    if residual not in (None, "f32p", "words_u8", "words_s8"):
        raise ValueError(f"unknown residual format {residual!r}")
    if tile_o * tile_p + tile_p + 1 > dot_isa.registers:
        raise ValueError(f"register tile {tile_o}x{tile_p} does not fit the {dot_isa.registers} registers of {isa}")
    dom = Domain(n, h, w, pad)
    lanes = dot_isa.lanes
    if tile_p * lanes > SLACK:
        raise ValueError(f"a tile of {tile_p * lanes} positions exceeds the domain slack {SLACK}")
    wp, length = dom.wp, dom.length
    first = pad + pad * wp  # row index of the first computed position: interior row 0, column -pad
    positions = h * wp  # computed positions: the interior rows, halo columns included
    tile = tile_p * lanes
    chunks = -(-positions // tile)
    ob_n, obg = o // tile_o, (o // groups) // tile_o
    tasks = n * ob_n * chunks
    acc_t, f_t = f"int32x{lanes}", f"float32x{lanes}"
    float_in = in_quantizer is not None

    with IRBuilder() as ib:
        with T.prim_func():
            T.func_attr({"tirx.noalias": True})
            if float_in:
                x = T.arg("x", T.buffer((n, c, h, w), "float32"))
            else:
                x = T.arg("x", T.buffer((n, main.r_tot, length), "int32"))
            wk = T.arg("wk", T.buffer((ob_n, main.rows_w, tile_o), "int32"))
            scale = T.arg("scale", T.buffer((o,), "float32"))
            offset = T.arg("offset", T.buffer((o,), "float32"))
            inv_in = T.arg("inv_in", T.buffer((1,), "float32")) if float_in else None
            if side is not None:
                x2 = T.arg("x2", T.buffer((n, side.r_tot, length), "int32"))
                wk2 = T.arg("wk2", T.buffer((ob_n, side.rows_w, tile_o), "int32"))
                scale2 = T.arg("scale2", T.buffer((o,), "float32"))
                offset2 = T.arg("offset2", T.buffer((o,), "float32"))
            res = res_scale = None
            if residual == "f32p":
                res = T.arg("residual", T.buffer((n, o, length), "float32"))
            elif residual is not None:
                res = T.arg("residual", T.buffer((n, o // WORD_CHANNELS, length), "int32"))
                res_scale = T.arg("res_scale", T.buffer((1,), "float32"))
            inv_outs = [T.arg(f"inv_out{i}", T.buffer((1,), "float32")) for i in range(len(words_out))]
            outs = [T.arg(f"out{i}", T.buffer(output_shape(s, n, o, h, w, dom), output_dtype(s))) for i, s in enumerate(outputs)]

            # flat views (2-element views of the (1,) scalars: TVMScript prints a load of a (1,) buffer
            # without its index, which does not parse back; tvm-sepnet estimate re-parses kernels)
            wflat = T.decl_buffer((ob_n * main.rows_w * tile_o,), "int32", data=wk.data)
            rflat = T.decl_buffer((int(_prod(res.shape)),), res.dtype, data=res.data) if res is not None else None
            res_view = T.decl_buffer((2,), "float32", data=res_scale.data) if res_scale is not None else None
            inv_views = [T.decl_buffer((2,), "float32", data=b.data) for b in inv_outs]
            oflat = [T.decl_buffer((int(_prod(b.shape)),), b.dtype, data=b.data) for b in outs]
            if float_in:
                xin = T.decl_buffer((n * c * h * w,), "float32", data=x.data)
                inv_in_view = T.decl_buffer((2,), "float32", data=inv_in.data)
                xflat = T.decl_buffer((n * main.r_tot * length,), "int32")
                quantize_to_words_stage(xin, inv_in_view, xflat, in_quantizer, n, main.r_tot, h, w, dom)
            else:
                xflat = T.decl_buffer((n * main.r_tot * length,), "int32", data=x.data)
            if side is not None:
                x2flat = T.decl_buffer((n * side.r_tot * length,), "int32", data=x2.data)
                w2flat = T.decl_buffer((ob_n * side.rows_w * tile_o,), "int32", data=wk2.data)

            # the padded outputs' halo rows (and guards) are 0: the tiles below write their rows
            for i, spec in enumerate(outputs):
                if spec == "f32":
                    continue
                zero = T.float32(0) if spec == "f32p" else T.int32(0)
                rows = n * (o if spec == "f32p" else o // WORD_CHANNELS)
                with T.parallel(0, rows) as t:
                    with T.serial(0, first) as k:
                        T.buffer_store(oflat[i], zero, [t * length + k])
                    with T.serial(0, length - first - positions) as k:
                        T.buffer_store(oflat[i], zero, [t * length + first + positions + k])

            with T.parallel(0, tasks) as t:
                nn = t // (ob_n * chunks)
                ob = t // chunks % ob_n
                pos0 = first + (t % chunks) * tile  # row index of the tile's first position
                acc = Registers(tile_o * tile_p, acc_t)
                xv = Registers(tile_p, acc_t)
                kf = None
                if side is not None:  # the sibling's epilogue values, this layer's residual
                    kf = Registers(tile_o * tile_p, f_t)
                    x2_base = (nn * side.r_tot + (ob * tile_o // (o // side.groups)) * side.rn) * length + pos0
                    _accumulate(acc, xv, x2flat, w2flat, side, ob, x2_base, lanes=lanes, tile_o=tile_o, tile_p=tile_p,
                                wp=wp, length=length, unroll=unroll)
                    for j in range(tile_o):
                        for v in range(tile_p):
                            oc = ob * tile_o + j
                            k_value = _integer_epilogue(acc[j * tile_p + v], scale2, offset2, oc, sibling.get("relu", False),
                                                        None, lanes)
                            kf.set(j * tile_p + v, k_value)
                x_base = (nn * main.r_tot + (ob // obg) * main.rn) * length + pos0
                _accumulate(acc, xv, xflat, wflat, main, ob, x_base, lanes=lanes, tile_o=tile_o, tile_p=tile_p, wp=wp,
                            length=length, unroll=unroll)
                _epilogue(outputs, oflat, inv_views, scale, offset, (residual, rflat, res_view, kf), acc, nn, ob, pos0,
                          relu=relu, lanes=lanes, tile_o=tile_o, tile_p=tile_p, o=o, h=h, w=w, dom=dom, f_t=f_t)
    return ib.get()


class Registers:
    """``count`` vector values held in one-element stack buffers: indexed by Python ints (the tile's loops
    are unrolled here), so LLVM keeps them in registers. (A ``local`` buffer, or one of 1 KB or more,
    becomes a heap workspace allocated per parallel task by TVM's builtin lowering.)"""

    def __init__(self, count: int, dtype: str):
        self.bufs = [T.decl_buffer((1,), dtype, scope="global") for _ in range(count)]

    def __getitem__(self, i: int):
        return self.bufs[i][0]

    def set(self, i: int, value) -> None:
        T.buffer_store(self.bufs[i], value, [0])


def _accumulate(acc, xv, xflat, wflat, conv: ConvBranch, ob, x_base, *, lanes, tile_o, tile_p, wp, length, unroll):
    """``acc[j, v]`` = the accumulator start row + sum over taps and words of dot(x words, weight words);
    word ``r`` of the tile's group is the row at ``x_base + r * length``."""
    isa = DOT_ISAS[conv.isa]
    shift = isa.shift(conv.x_dtype)
    dot = dot_function(isa, conv.x_dtype)
    rn, rows_w, kernel, padding = conv.rn, conv.rows_w, conv.kernel, conv.padding
    ur = max(d for d in range(1, max(1, min(unroll, rn)) + 1) if rn % d == 0)
    for j in range(tile_o):
        for v in range(tile_p):
            acc.set(j * tile_p + v, _bc(wflat[(ob * rows_w + conv.taps * rn) * tile_o + j], lanes))
    with T.serial(0, conv.taps) as tap:
        off = (tap // kernel - padding) * wp + (tap % kernel - padding)
        with T.serial(0, rn // ur) as ro:
            for ri in range(ur):
                r = ro * ur + ri
                for v in range(tile_p):
                    loaded = xflat[T.ramp(x_base + r * length + v * lanes + off, 1, lanes)]
                    xv.set(v, T.bitwise_xor(loaded, _bc(T.int32(SHIFT_WORD), lanes)) if shift else loaded)
                for j in range(tile_o):
                    for v in range(tile_p):
                        wv = _bc(wflat[(ob * rows_w + tap * rn + r) * tile_o + j], lanes)
                        acc.set(j * tile_p + v, dot(acc[j * tile_p + v], xv[v], wv))


def _integer_epilogue(accv, scale, offset, oc, relu: bool, res, lanes: int):
    """The integer epilogue (schedules.common) of an int32 vector of channel ``oc``, plus ``res`` (fenced)."""
    f_t = f"float32x{lanes}"
    accf = T.Cast(f_t, accv)
    y = T.Select(_bc(scale[oc] != T.float32(0), lanes), (accf + _bc(offset[oc], lanes)) * _bc(scale[oc], lanes),
                 _bc(offset[oc], lanes))
    if res is not None:  # the fence keeps LLVM from contracting the multiply into this add (FMA)
        y = T.call_llvm_pure_intrin(f_t, "llvm.arithmetic.fence", y) + res
    if relu:
        y = T.max(y, _bc(T.float32(0), lanes))
    return y


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def _epilogue(outputs, oflat, inv_views, scale, offset, residual, acc, nn, ob, pos0, *, relu, lanes, tile_o, tile_p, o, h, w,
              dom: Domain, f_t):
    """Per vector of the tile: the integer epilogue of every channel plus its residual (``residual =
    (mode, rows, scale view, sibling values)``), halo positions masked to 0, stored in each output's
    format."""
    pad, wp, length = dom.pad, dom.wp, dom.length
    mode, rflat, res_view, kf = residual

    def bc(value):
        return _bc(value, lanes)

    def residual_of(j, v, pos):
        oc = ob * tile_o + j
        if kf is not None:
            return kf[j * tile_p + v]
        if mode == "f32p":
            return rflat[T.ramp((nn * o + oc) * length + pos, 1, lanes)]
        if mode in ("words_u8", "words_s8"):  # the code of channel oc: byte oc % 4 of its word row, times the scale
            word = rflat[T.ramp((nn * (o // WORD_CHANNELS) + oc // WORD_CHANNELS) * length + pos, 1, lanes)]
            code = T.bitwise_and(T.shift_right(word, bc(T.int32(8) * (oc % WORD_CHANNELS))), bc(T.int32(255)))
            if mode == "words_s8":  # sign-extend the byte
                code = T.shift_right(T.shift_left(code, bc(T.int32(24))), bc(T.int32(24)))
            # fenced: LLVM would contract this multiply into the residual add (an FMA rounds once)
            return T.call_llvm_pure_intrin(f_t, "llvm.arithmetic.fence", T.Cast(f_t, code) * bc(res_view[0]))
        return None

    words_specs = [(i, s) for i, s in enumerate(outputs) if isinstance(s, tuple)]
    for v in range(tile_p):
        pos = pos0 + v * lanes
        qv = T.ramp(pos - pad, 1, lanes)  # plane coordinates of the lanes
        row = T.floordiv(qv, bc(T.int32(wp)))
        col = T.floormod(qv, bc(T.int32(wp)))
        inside = T.bitwise_and(T.bitwise_and(row >= bc(T.int32(pad)), row < bc(T.int32(pad + h))),
                               T.bitwise_and(col >= bc(T.int32(pad)), col < bc(T.int32(pad + w))))
        ys = Registers(tile_o, f_t)
        for j in range(tile_o):
            y = _integer_epilogue(acc[j * tile_p + v], scale, offset, ob * tile_o + j, relu, residual_of(j, v, pos), lanes)
            ys.set(j, T.Select(inside, y, bc(T.float32(0))))
        for i, spec in enumerate(outputs):
            if spec == "f32p":
                for j in range(tile_o):
                    T.buffer_store(oflat[i], ys[j], [T.ramp((nn * o + ob * tile_o + j) * length + pos, 1, lanes)])
            elif spec == "f32":  # dense NCHW: the interior lanes one by one
                for j in range(tile_o):
                    with T.unroll(0, lanes) as lane:
                        q = pos - pad + lane
                        with T.If(T.And(T.And(q // wp >= pad, q // wp < pad + h), T.And(q % wp >= pad, q % wp < pad + w))):
                            with T.Then():
                                T.buffer_store(oflat[i], T.Shuffle([ys[j]], [lane]),
                                               [((nn * o + ob * tile_o + j) * h + q // wp - pad) * w + q % wp - pad])
        for k, (i, spec) in enumerate(words_specs):
            _, lo, hi = spec
            inv = inv_views[k][0]
            for jq in range(tile_o // WORD_CHANNELS):
                word = None
                for b in range(WORD_CHANNELS):
                    qf = T.min(T.max(T.nearbyint(ys[jq * WORD_CHANNELS + b] * bc(inv)), bc(T.float32(lo))), bc(T.float32(hi)))
                    code = T.bitwise_and(T.Cast(f"int32x{lanes}", qf), bc(T.int32(255)))
                    part = T.shift_left(code, bc(T.int32(8 * b))) if b else code
                    word = part if word is None else T.bitwise_or(word, part)
                row = nn * (o // WORD_CHANNELS) + (ob * tile_o) // WORD_CHANNELS + jq
                T.buffer_store(oflat[i], word, [T.ramp(row * length + pos, 1, lanes)])


def choose_isa(features, arch: str, exact_in_int16: bool) -> str:
    """The dot ISA for a target's CPU ``features`` (/proc/cpuinfo or HWCAP names) and architecture
    (``x86_64`` or ``aarch64``/``armv7l``); ``exact_in_int16``: the weights' pair sums fit int16
    (``vpmaddubsw`` is exact for them, e.g. ±1 weights)."""
    features = set(features)
    if arch == "x86_64":
        if "avx512_vnni" in features:
            return "vnni512"
        if "avx512bw" in features:
            return "ubsw512" if exact_in_int16 else "generic512"
        if "avx2" in features:
            return "ubsw256" if exact_in_int16 else "generic256"
        return "generic256"
    if "asimddp" in features:
        return "sdot"
    return "generic128"


__all__ = ["DOT_ISAS", "ConvBranch", "DotIsa", "choose_isa", "dot_conv2d_prim_func", "dot_function", "output_dtype",
           "output_shape"]
