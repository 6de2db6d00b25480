"""TIR of ``xnor_conv2d``: a grouped sign layer (docs/numerics.md "Sign layers", numpy twin
:mod:`.reference`) as XOR + popcount on packed sign bits.

Layouts: the input is bits rows (:mod:`schedules.bit_layout`) of a domain ``(N, H, W, pad_in)`` with
``pad_in >= max(padding)`` (the halo is +1), or float32 NCHW packed into such rows by the kernel's first
stage (``float_in``); weights are :func:`.packing.prepare_weights`; ``m2``, ``c`` the epilogue constants
(:func:`.reference.epilogue_constants`); with ``pad_value = 0`` the correction table ``corr`` and the row
classes ``rowcls`` of :func:`.packing.padding_correction`; the residual is float32 NCHW. Outputs, any of:

- ``"f32"``: float32 NCHW ``(N, O, Ho, Wo)``;
- ``("bits", pad_out, cg_out)``: the sign bits of the result as bits rows of the domain
  ``(N, Ho, Wo, pad_out)`` for a consumer with ``cg_out`` channels per group (``cg_out <= 32`` or a multiple
  of 32: a word never spans two tasks), halo 0.

Every output comes from the same float32 epilogue value (the sign bits are ``y < 0``).

Schedule: parallel tasks over (image, chunk of output channels, output row); a chunk is the channels of one
output word (``bits`` outputs) or ``tile_o``. Per task and tile of ``tile_p`` vectors of ``lanes``
consecutive output pixels of the row: ``tile_o x tile_p`` int32 vector accumulators in registers; per tap
and input word, ``tile_p`` vector loads (a ramp of stride ``stride_w``: no bounds test, the halo is +1
and the domain's slack absorbs the tile's overhang), then per output channel a broadcast weight word,
``XOR``, ``popcount`` and an add: the differing taps ``pc1``. The epilogue applies the contract to whole
vectors; the row's last tile stores lane by lane (its lanes past ``Wo`` are not stored).

ISAs (:data:`XNOR_ISAS`) differ in vector width; LLVM lowers the vector popcount to the target's
instruction: AVX-512 ``vpopcntd`` (VPOPCNTDQ), the ``vpshufb`` nibble table on AVX2 / AVX-512BW, NEON
``cnt`` + pairwise adds on arm64 / armv7 (checked in the assembly by the tests).
"""
from __future__ import annotations

from dataclasses import dataclass

from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from schedules.bit_layout import BITS, words_per_group
from schedules.common import conv_out_size, normalize_padding
from schedules.word_layout import Domain


@dataclass(frozen=True)
class XnorIsa:
    """A vector popcount of ``lanes`` int32 lanes (one pixel's 32-channel word per lane)."""

    name: str
    lanes: int
    registers: int
    requires: tuple = ()  # CPU flags (/proc/cpuinfo names)


XNOR_ISAS = {
    "vpopcnt512": XnorIsa("vpopcnt512", 16, 32, ("avx512f", "avx512_vpopcntdq")),  # vpopcntd zmm
    "vpopcnt256": XnorIsa("vpopcnt256", 8, 32, ("avx512vl", "avx512_vpopcntdq")),  # vpopcntd ymm (narrow maps)
    "avx512": XnorIsa("avx512", 16, 32, ("avx512f", "avx512bw")),  # vpshufb nibble table on zmm
    "avx2": XnorIsa("avx2", 8, 16, ("avx2",)),  # vpshufb nibble table on ymm
    "neon": XnorIsa("neon", 4, 32),  # cnt.16b + uaddlp (aarch64), vcnt.8 + vpaddl (armv7)
}


#: default register tile (tile_o, tile_p) per ISA (knobs ``xnor_tile_o``, ``xnor_tile_p`` override it)
DEFAULT_TILES = {"vpopcnt512": (16, 1), "vpopcnt256": (16, 1), "avx512": (16, 1), "avx2": (8, 1), "neon": (8, 2)}


def choose_xnor_isa(features, arch: str) -> str:
    """The XNOR ISA for a target's CPU ``features`` and architecture (``x86_64``, ``aarch64``, ``armv7l``)."""
    features = set(features)
    if arch != "x86_64":
        return "neon"
    if {"avx512f", "avx512_vpopcntdq"} <= features:
        return "vpopcnt512"
    if {"avx512f", "avx512bw"} <= features:
        return "avx512"
    return "avx2"


def bits_chunk(cg_out: int) -> int:
    """Output channels per bits word for a consumer with ``cg_out`` channels per group; raises for a
    grouping whose words are not whole chunks of consecutive channels."""
    if cg_out <= BITS:
        return cg_out
    if cg_out % BITS == 0:
        return BITS
    raise ValueError(f"bits output for a consumer with {cg_out} channels per group (neither <= 32 nor a multiple of 32)")


def _bc(value, lanes: int):
    return T.broadcast(value, lanes)


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def xnor_conv2d_prim_func(*, n: int, c: int, h: int, w: int, o: int, groups: int, kernel, strides=(1, 1), padding=0,
                          dilation=(1, 1), pad_in: int, isa: str, outputs, tile_o: int, tile_p: int, pad_value: int = 1,
                          acc_relu: bool = False, relu: bool = False, residual: bool = False,
                          float_in: bool = False, corr_shape=None) -> tirx.PrimFunc:
    """PrimFunc ``(x, wk, m2, c[, corr, rowcls][, residual], out...)`` (module docstring).

    ``kernel``/``strides``/``dilation``: ``(h, w)`` pairs; ``padding``: int or ``(top, left, bottom, right)``;
    ``corr_shape``: ``(NCY, width)`` of the correction table (``pad_value = 0`` with padding)."""
    xisa = XNOR_ISAS[isa]
    lanes = xisa.lanes
    kh, kw = (int(v) for v in kernel)
    sh, sw = (int(v) for v in strides)
    dh, dw = (int(v) for v in dilation)
    top, left, bottom, right = normalize_padding(padding)
    ho, wo = conv_out_size(h, kh, sh, top, bottom, dh), conv_out_size(w, kw, sw, left, right, dw)
    if c % groups or o % groups:
        raise ValueError(f"xnor_conv2d: channels {c}->{o} not divisible by groups {groups}")
    cg, og = c // groups, o // groups
    rw = words_per_group(cg)
    rw_tot = groups * rw
    taps = kh * kw
    k_taps = taps * cg
    if max(top, left, bottom, right) > pad_in:
        raise ValueError(f"xnor_conv2d: padding {(top, left, bottom, right)} exceeds the input domain's halo {pad_in}")
    if pad_value not in (0, 1):
        raise ValueError(f"pad_value must be 0 or 1, got {pad_value}")
    zero_pad = pad_value == 0 and max(top, left, bottom, right) > 0
    if zero_pad and corr_shape is None:
        raise ValueError("xnor_conv2d: zero padding needs the correction table's shape (corr_shape)")
    outputs = list(outputs)
    if not outputs:
        raise ValueError("xnor_conv2d needs at least one output")
    chunks = {bits_chunk(s[2]) for s in outputs if isinstance(s, tuple)}
    if len(chunks) > 1:
        raise ValueError(f"xnor_conv2d: bits outputs with different word chunks {sorted(chunks)}")
    chunk_o = chunks.pop() if chunks else tile_o
    if og % tile_o or chunk_o % tile_o or o % chunk_o:
        raise ValueError(f"xnor_conv2d: tile_o {tile_o} must divide O/groups = {og} and the output word chunk {chunk_o}")
    if tile_o * tile_p + tile_p + 1 > xisa.registers:
        raise ValueError(f"register tile {tile_o}x{tile_p} does not fit the {xisa.registers} registers of {isa}")
    tile = tile_p * lanes
    x_tiles = -(-wo // tile)
    d_in = Domain(n, h, w, pad_in)
    wp_in, l_in = d_in.wp, d_in.length
    # the last lane of the last tile of the last row at the last tap must stay inside the row buffer
    far = (pad_in + ((ho - 1) * sh + (kh - 1) * dh - top + pad_in) * wp_in + (x_tiles * tile - 1) * sw + (kw - 1) * dw
           - left + pad_in)
    if far >= l_in:
        raise ValueError(f"xnor_conv2d: a tile of {tile} pixels at stride {sw} overruns the domain's slack "
                         f"({far} >= {l_in}); use a smaller tile_p")
    nck = o // chunk_o
    obs_per_chunk = chunk_o // tile_o
    tasks = n * nck * ho
    acc_t, f_t = f"int32x{lanes}", f"float32x{lanes}"
    half_k = float(k_taps) / 2.0

    with IRBuilder() as ib:
        with T.prim_func():
            T.func_attr({"tirx.noalias": True})
            if float_in:
                x = T.arg("x", T.buffer((n, c, h, w), "float32"))
            else:
                x = T.arg("x", T.buffer((n, rw_tot, l_in), "int32"))
            wk = T.arg("wk", T.buffer((o // tile_o, taps * rw, tile_o), "int32"))
            m2 = T.arg("m2", T.buffer((o,), "float32"))
            cst = T.arg("c", T.buffer((o,), "float32"))
            corr = rowcls = None
            if zero_pad:
                ncy, width = (int(v) for v in corr_shape)
                if width < x_tiles * tile:
                    raise ValueError(f"correction table width {width} < {x_tiles * tile}")
                corr = T.arg("corr", T.buffer((o, ncy, width), "float32"))
                rowcls = T.arg("rowcls", T.buffer((ho,), "int32"))
            res = T.arg("residual", T.buffer((n, o, ho, wo), "float32")) if residual else None
            out_shapes = [output_shape(s, n, o, ho, wo) for s in outputs]
            outs = [T.arg(f"out{i}", T.buffer(shape, output_dtype(s))) for i, (s, shape) in enumerate(zip(outputs, out_shapes))]

            wflat = T.decl_buffer((_prod(wk.shape),), "int32", data=wk.data)
            cflat = T.decl_buffer((_prod(corr.shape),), "float32", data=corr.data) if corr is not None else None
            rflat = T.decl_buffer((_prod(res.shape),), "float32", data=res.data) if res is not None else None
            oflat = [T.decl_buffer((_prod(b.shape),), b.dtype, data=b.data) for b in outs]
            if float_in:
                xin = T.decl_buffer((n * c * h * w,), "float32", data=x.data)
                xflat = T.decl_buffer((n * rw_tot * l_in,), "int32")
                _pack_stage(xin, xflat, n, c, h, w, groups, d_in)
            else:
                xflat = T.decl_buffer((n * rw_tot * l_in,), "int32", data=x.data)

            for i, spec in enumerate(outputs):  # bits outputs: halo (and guards) 0
                if isinstance(spec, tuple):
                    total = _prod(out_shapes[i])
                    with T.parallel(0, out_shapes[i][0] * out_shapes[i][1]) as t:
                        with T.serial(0, out_shapes[i][2]) as k:
                            T.buffer_store(oflat[i], T.int32(0), [t * out_shapes[i][2] + k])
                    assert total == out_shapes[i][0] * out_shapes[i][1] * out_shapes[i][2]

            with T.parallel(0, tasks) as t:
                nn = t // (nck * ho)
                ck = t // ho % nck
                yy = t % ho
                acc = T.decl_buffer((tile_o * tile_p,), acc_t, scope="local")
                xv = T.decl_buffer((tile_p,), acc_t, scope="local")
                bw = T.decl_buffer((tile_p,), acc_t, scope="local")
                with T.serial(0, x_tiles) as xt:
                    x0 = xt * tile
                    with T.unroll(0, tile_p) as v:
                        T.buffer_store(bw, _bc(T.int32(0), lanes), [v])
                    with T.serial(0, obs_per_chunk) as obi:
                        ob = ck * obs_per_chunk + obi
                        g = ob * tile_o // og
                        with T.unroll(0, tile_o) as j:
                            with T.unroll(0, tile_p) as v:
                                T.buffer_store(acc, _bc(T.int32(0), lanes), [j * tile_p + v])
                        with T.serial(0, taps) as tap:
                            ky = tap // kw
                            kx = tap % kw
                            with T.serial(0, rw) as r:
                                base = ((nn * rw_tot + g * rw + r) * l_in + pad_in + (yy * sh + ky * dh - top + pad_in) * wp_in
                                        + x0 * sw + kx * dw - left + pad_in)
                                with T.unroll(0, tile_p) as v:
                                    T.buffer_store(xv, xflat[T.ramp(base + v * lanes * sw, sw, lanes)], [v])
                                with T.unroll(0, tile_o) as j:
                                    wv = _bc(wflat[(ob * taps * rw + tap * rw + r) * tile_o + j], lanes)
                                    with T.unroll(0, tile_p) as v:
                                        T.buffer_store(acc, acc[j * tile_p + v] + T.popcount(T.bitwise_xor(xv[v], wv)),
                                                       [j * tile_p + v])
                        ctx = dict(acc=acc, bw=bw, ob=ob, nn=nn, yy=yy, x0=x0, m2=m2, cst=cst, cflat=cflat,
                                   rowcls=rowcls, rflat=rflat, oflat=oflat, outputs=outputs, lanes=lanes, tile_o=tile_o,
                                   tile_p=tile_p, o=o, ho=ho, wo=wo, chunk_o=chunk_o, acc_relu=acc_relu, half_k=half_k,
                                   relu=relu, f_t=f_t, corr_shape=corr_shape)
                        with T.If(x0 + tile <= wo):
                            with T.Then():
                                _epilogue(ctx, tail=False)
                            with T.Else():
                                _epilogue(ctx, tail=True)
                    for i, spec in enumerate(outputs):
                        if isinstance(spec, tuple):
                            _store_bits(oflat[i], bw, spec, ck, nn, yy, x0, n=n, o=o, ho=ho, wo=wo, lanes=lanes,
                                        tile_p=tile_p, chunk_o=chunk_o, tile=tile)
    return ib.get()


def output_shape(spec, n: int, o: int, ho: int, wo: int) -> tuple:
    """Shape of an output of ``spec`` (module docstring)."""
    if spec == "f32":
        return (n, o, ho, wo)
    _, pad_out, cg_out = spec
    return (n, o // bits_chunk(cg_out), Domain(n, ho, wo, pad_out).length)


def output_dtype(spec) -> str:
    return "float32" if spec == "f32" else "int32"


def _pack_stage(xin, xflat, n, c, h, w, groups, dom: Domain):
    """float32 NCHW -> bits rows of ``dom`` (halo 0): bit ``b`` of word ``(g, k)`` is ``x < 0`` of channel
    ``g * Cg + 32 k + b``. Parallel over the rows' halo, then over (image, group, pixel row)."""
    cg = c // groups
    rw = words_per_group(cg)
    length, wp, pad = dom.length, dom.wp, dom.pad
    with T.parallel(0, n * groups * rw) as t:
        with T.serial(0, length) as k:
            T.buffer_store(xflat, T.int32(0), [t * length + k])
    with T.parallel(0, n * groups * h) as t:
        ng = t // h
        y = t % h
        for r in range(rw):
            row = (ng * rw + r) * length
            with T.vectorized(0, w) as xx:
                word = None
                for b in range(min(BITS, cg - r * BITS)):
                    value = xin[((ng // groups) * c + (ng % groups) * cg + r * BITS + b) * h * w + y * w + xx]
                    one = T.int32(-(1 << 31)) if b == 31 else T.int32(1 << b)
                    bit = T.Select(value < T.float32(0), one, T.int32(0))
                    word = bit if word is None else T.bitwise_or(word, bit)
                T.buffer_store(xflat, word, [row + pad + (y + pad) * wp + xx + pad])


def _epilogue(cx, tail: bool):
    """The contract's epilogue for every vector of the tile; ``tail``: the row's last tile (lanes past
    ``Wo`` are neither loaded from the residual nor stored)."""
    lanes, tile_o, tile_p, o, ho, wo = cx["lanes"], cx["tile_o"], cx["tile_p"], cx["o"], cx["ho"], cx["wo"]
    ob, nn, yy, x0, f_t = cx["ob"], cx["nn"], cx["yy"], cx["x0"], cx["f_t"]
    acc, bw, rflat = cx["acc"], cx["bw"], cx["rflat"]

    def bc(value):
        return _bc(value, lanes)

    for_res = T.decl_buffer((lanes,), "float32", scope="local") if (tail and rflat is not None) else None
    ys = T.decl_buffer((lanes,), "float32", scope="local") if tail else None
    with T.unroll(0, tile_o) as j:
        oc = ob * tile_o + j
        with T.unroll(0, tile_p) as v:
            xs = x0 + v * lanes
            pcf = T.Cast(f_t, acc[j * tile_p + v])
            if cx["acc_relu"]:
                pcf = T.min(pcf, bc(T.float32(cx["half_k"])))
            # the fence keeps LLVM from contracting the multiply into the add (one FMA rounding)
            y = T.call_llvm_pure_intrin(f_t, "llvm.arithmetic.fence", pcf * bc(cx["m2"][oc])) + bc(cx["cst"][oc])
            if cx["cflat"] is not None:
                ncy, width = cx["corr_shape"]
                y = y - cx["cflat"][T.ramp((oc * ncy + cx["rowcls"][yy]) * width + xs, 1, lanes)]
            dense = ((nn * o + oc) * ho + yy) * wo + xs
            if rflat is not None:
                if tail:
                    with T.unroll(0, lanes) as lane:
                        # clamped index: the lanes past Wo are not used
                        T.buffer_store(for_res, rflat[T.min(dense + lane, _prod(rflat.shape) - 1)], [lane])
                    r = for_res[T.ramp(0, 1, lanes)]
                else:
                    r = rflat[T.ramp(dense, 1, lanes)]
                y = T.call_llvm_pure_intrin(f_t, "llvm.arithmetic.fence", y) + r
            if cx["relu"]:
                y = T.max(y, bc(T.float32(0)))
            has_bits = any(isinstance(s, tuple) for s in cx["outputs"])
            if tail:
                T.buffer_store(ys, y, [T.ramp(0, 1, lanes)])
                yv = ys[T.ramp(0, 1, lanes)]
            else:
                yv = y
            if has_bits:
                pos = oc % cx["chunk_o"]
                bit = T.shift_left(bc(T.int32(1)), bc(pos))
                T.buffer_store(bw, T.bitwise_or(bw[v], T.Select(yv < bc(T.float32(0)), bit, bc(T.int32(0)))), [v])
            for i, spec in enumerate(cx["outputs"]):
                if spec != "f32":
                    continue
                if tail:
                    with T.unroll(0, lanes) as lane:
                        with T.If(xs + lane < wo):
                            with T.Then():
                                T.buffer_store(cx["oflat"][i], ys[lane], [dense + lane])
                else:
                    T.buffer_store(cx["oflat"][i], yv, [T.ramp(dense, 1, lanes)])


def _store_bits(oflat, bw, spec, ck, nn, yy, x0, *, n, o, ho, wo, lanes, tile_p, chunk_o, tile):
    """The words of the tile (lanes past ``Wo`` not stored) into bits rows of the consumer's domain."""
    _, pad_out, _ = spec
    dom = Domain(n, ho, wo, pad_out)
    row = (nn * (o // chunk_o) + ck) * dom.length + dom.pad + (yy + pad_out) * dom.wp + pad_out
    with T.If(x0 + tile <= wo):
        with T.Then():
            with T.unroll(0, tile_p) as v:
                T.buffer_store(oflat, bw[v], [T.ramp(row + x0 + v * lanes, 1, lanes)])
        with T.Else():
            with T.unroll(0, tile_p) as v:
                with T.unroll(0, lanes) as lane:
                    with T.If(x0 + v * lanes + lane < wo):
                        with T.Then():
                            T.buffer_store(oflat, T.Shuffle([bw[v]], [lane]), [row + x0 + v * lanes + lane])


__all__ = ["DEFAULT_TILES", "XNOR_ISAS", "XnorIsa", "bits_chunk", "choose_xnor_isa", "output_dtype", "output_shape",
           "xnor_conv2d_prim_func"]
