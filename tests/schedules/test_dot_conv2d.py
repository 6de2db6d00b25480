"""dot_conv2d kernels against their numpy twin (schedules/dot_conv2d/reference.py): every ISA this host
runs, 1x1 and 3x3, groups, uint8 and int8 codes, float input quantized in the kernel, residuals as
float rows or codes, the fused sibling conv (pattern residual block), every output format with its
halo zeroed; the ISAs the host lacks are compiled and their instructions checked in the assembly."""
import numpy as np
import pytest
import tvm

from schedules.common import integer_epilogue_np
from schedules.dot_conv2d.kernel import DOT_ISAS, choose_isa, dot_conv2d_prim_func, output_shape
from schedules.dot_conv2d.packing import pair_sums_fit_int16, prepare_weights
from schedules.dot_conv2d.reference import dot_conv2d as reference
from schedules.int8_conv2d.reference import int8_accumulate
from schedules.quantize.reference import quantize
from schedules.word_layout import Domain, from_padded, from_words, to_padded, to_words
from tvm_sepnet.targets import host_cpu_flags, host_mcpu

X86_HOST_ISAS = [name for name, isa in DOT_ISAS.items()
                 if name.endswith(("512", "256")) and set(isa.requires) <= host_cpu_flags()
                 and (not name.endswith("512") or "avx512f" in host_cpu_flags())]


def _target():
    return tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2})


def _halo_zero(rows: np.ndarray, dom: Domain) -> bool:
    plane = rows[:, :, dom.pad:dom.pad + dom.q].reshape(rows.shape[0], rows.shape[1], dom.hp, dom.wp)
    p = dom.pad
    return bool(np.all(plane[:, :, :p] == 0) and np.all(plane[:, :, dom.hp - p:] == 0)
                and np.all(plane[:, :, :, :p] == 0) and np.all(plane[:, :, :, dom.wp - p:] == 0))


def _run(func, inputs, outputs, n, o, h, w, dom):
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=_target())
    dev = tvm.cpu()
    outs = [tvm.runtime.tensor(np.full(output_shape(s, n, o, h, w, dom), 77, "int32" if isinstance(s, tuple) else "float32"),
                               dev) for s in outputs]  # garbage: the kernel must write every value read later
    lib["main"](*[tvm.runtime.tensor(a, dev) for a in inputs], *outs)
    return [t.numpy() for t in outs]


def _check_outputs(got, want, outputs, dom):
    for spec, g, e in zip(outputs, got, want):
        if spec == "f32p":
            assert _halo_zero(g, dom)
            np.testing.assert_array_equal(from_padded(g, dom), e)
        elif spec == "f32":
            np.testing.assert_array_equal(g, e)
        else:
            assert _halo_zero(g, dom)
            np.testing.assert_array_equal(from_words(g, dom, "uint8" if spec[1] >= 0 else "int8"), e)


CASES = [  # (n, c, h, w, o, groups, kernel, x_dtype, ±1 weights, residual, float input)
    (1, 16, 5, 7, 8, 2, 3, "uint8", False, "f32p", False),
    (2, 16, 6, 5, 16, 1, 1, "int8", False, None, False),
    (1, 32, 7, 9, 16, 4, 3, "uint8", True, "words_u8", False),
    (1, 24, 6, 6, 12, 3, 3, "int8", True, "words_s8", False),
    (1, 32, 9, 11, 32, 4, 1, "uint8", False, "f32p", True),
    (2, 8, 4, 13, 8, 2, 3, "int8", False, None, True),
]


def _isa_cases():
    """(isa, case): vpmaddubsw only where its int16 pair sums are exact (±1 weights), as the planner uses it."""
    return [(isa, case) for isa in X86_HOST_ISAS for case in CASES if DOT_ISAS[isa].kind != "ubsw" or case[8]]


@pytest.mark.parametrize("isa,case", _isa_cases(), ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v)))
def test_kernel_matches_reference(isa, case):
    n, c, h, w, o, groups, kernel, x_dtype, pm1, residual, float_in = case
    rng = np.random.default_rng(n * 1000 + c * 10 + h + kernel)
    padding, dom = (kernel - 1) // 2, Domain(n, h, w, 1)
    lo, hi = (0, 255) if x_dtype == "uint8" else (-127, 127)
    cg = c // groups
    wq = (rng.choice(np.array([-1, 1], np.int8), (o, cg, kernel, kernel)) if pm1
          else rng.integers(-127, 128, (o, cg, kernel, kernel)).astype(np.int8))
    assert DOT_ISAS[isa].kind != "ubsw" or pair_sums_fit_int16(wq)
    scale = (rng.random(o) * 0.002).astype(np.float32)
    offset = (rng.standard_normal(o) * 100).astype(np.float32)
    scale[0], offset[0] = 0.0, 1.5  # an all-zero filter: the offset alone
    outputs = ["f32p", ("words", 0, 255), "f32", ("words", -127, 127)]
    inv_out = [np.float32(3.1), np.float32(0.7)]
    specs = [("float32",), ("codes", 0, 255, "uint8", inv_out[0]), ("float32",), ("codes", -127, 127, "int8", inv_out[1])]
    res_arg, r = [], None
    if residual == "f32p":
        r = (rng.standard_normal((n, o, h, w)) * 3).astype(np.float32)
        res_arg = [to_padded(r, dom)]
    elif residual:
        rlo, rhi, rdt = (0, 255, "uint8") if residual == "words_u8" else (-127, 127, "int8")
        codes = rng.integers(rlo, rhi + 1, (n, o, h, w)).astype(rdt)
        res_scale = np.float32(0.37)
        r = (codes.astype(np.float32) * res_scale).astype(np.float32)
        res_arg = [to_words(codes, dom), np.array([res_scale], np.float32)]
    if float_in:
        x = (rng.standard_normal((n, c, h, w)) * 40).astype(np.float32)
        inv_in = np.float32(1.3)
        want = reference(x, wq, scale, offset, padding=padding, groups=groups, relu=True, residual=r, outputs=specs,
                         in_quantizer=(lo, hi, x_dtype, inv_in))
        x_args = [x]
    else:
        xq = rng.integers(lo, hi + 1, (n, c, h, w)).astype(x_dtype)
        want = reference(xq, wq, scale, offset, padding=padding, groups=groups, relu=True, residual=r, outputs=specs)
        x_args = [to_words(xq, dom)]
    tile_o = 4 if (o // groups) % 8 or DOT_ISAS[isa].registers < 32 else 8
    func = dot_conv2d_prim_func(n=n, c=c, h=h, w=w, o=o, groups=groups, kernel=kernel, padding=padding, pad=1, isa=isa,
                                x_dtype=x_dtype, outputs=outputs, tile_o=tile_o, tile_p=2, relu=True, residual=residual,
                                in_quantizer=(lo, hi) if float_in else None, unroll=2)
    inputs = x_args + [prepare_weights(wq, tile_o, DOT_ISAS[isa].shift(x_dtype)), scale, offset]
    inputs += ([np.array([inv_in], np.float32)] if float_in else []) + res_arg + [np.array([v], np.float32) for v in inv_out]
    _check_outputs(_run(func, inputs, outputs, n, o, h, w, dom), want, outputs, dom)


def _sibling_isas():
    """(ISA of the int8 1x1 conv, ISA of the ±1 k×k sibling): vpmaddubsw only for the ±1 weights."""
    pairs = [(i, i) for i in X86_HOST_ISAS if DOT_ISAS[i].kind in ("vnni", "generic")]
    pairs += [(i.replace("ubsw", "generic"), i) for i in X86_HOST_ISAS if DOT_ISAS[i].kind == "ubsw"]
    return pairs


@pytest.mark.parametrize("isa,side_isa", _sibling_isas())
def test_fused_sibling_is_the_pattern_residual_block(isa, side_isa):
    """``y = relu(epi(pw(x8)) + epi2(kxk(x4)))``: the k×k conv of the block computed in the 1x1 layer's kernel
    from its own (A-bit) input words, bit-exact with the two layers run one after the other."""
    rng = np.random.default_rng(7)
    n, c, h, w, o, g = 1, 32, 9, 10, 32, 4
    dom = Domain(n, h, w, 1)
    x8 = rng.integers(0, 256, (n, c, h, w)).astype(np.uint8)
    x4 = rng.integers(0, 16, (n, c, h, w)).astype(np.uint8)
    w1 = rng.integers(-127, 128, (o, c // g, 1, 1)).astype(np.int8)
    w3 = rng.choice(np.array([-1, 1], np.int8), (o, c // g, 3, 3))
    s1, b1 = (rng.random(o) * 0.01).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    s3, b3 = (rng.random(o) * 0.1).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    k = integer_epilogue_np(int8_accumulate(x4, w3, padding=1, groups=g), s3, b3, False)
    want = integer_epilogue_np(int8_accumulate(x8, w1, groups=g), s1, b1, True, k)
    outputs = ["f32p", ("words", 0, 15)]
    inv4 = np.float32(2.0)
    tile_o = 8 if DOT_ISAS[isa].registers >= 32 else 4
    func = dot_conv2d_prim_func(n=n, c=c, h=h, w=w, o=o, groups=g, kernel=1, padding=0, pad=1, isa=isa, x_dtype="uint8",
                                outputs=outputs, tile_o=tile_o, tile_p=2, relu=True,
                                sibling=dict(c=c, groups=g, kernel=3, padding=1, x_dtype="uint8", relu=False, isa=side_isa))
    inputs = [to_words(x8, dom), prepare_weights(w1, tile_o, DOT_ISAS[isa].shift("uint8")), s1, b1, to_words(x4, dom),
              prepare_weights(w3, tile_o, DOT_ISAS[side_isa].shift("uint8")), s3, b3, np.array([inv4], np.float32)]
    got = _run(func, inputs, outputs, n, o, h, w, dom)
    _check_outputs(got, [want, quantize(want, inv4, 0, 15, "uint8")], outputs, dom)


@pytest.mark.parametrize("isa,mcpu,instruction", [("vnni512", "sapphirerapids", "vpdpbusd"),
                                                  ("ubsw512", "skylake-avx512", "vpmaddubsw"),
                                                  ("ubsw256", "haswell", "vpmaddubsw")])
def test_x86_isas_emit_their_instruction(isa, mcpu, instruction):
    """Every host builds every x86 ISA; the instruction is in the assembly (run-time tests need the flags)."""
    func = dot_conv2d_prim_func(n=1, c=16, h=6, w=6, o=8, groups=1, kernel=3, padding=1, pad=1, isa=isa, x_dtype="uint8",
                                outputs=["f32p"], tile_o=4, tile_p=2)
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 2}))
    assert instruction in lib.mod.inspect_source("asm")


def test_sdot_isa_emits_sdot_for_aarch64():
    func = dot_conv2d_prim_func(n=1, c=16, h=6, w=6, o=8, groups=1, kernel=3, padding=1, pad=1, isa="sdot", x_dtype="uint8",
                                outputs=["f32p"], tile_o=4, tile_p=2)
    target = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76",
                                "mattr": ["+neon", "+dotprod"], "num-cores": 4})
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target=target)
    assert "sdot" in lib.mod.inspect_source("asm")


def test_isa_choice_and_int16_exactness():
    vnni = {"avx2", "avx512f", "avx512bw", "avx512_vnni"}
    assert choose_isa(vnni, "x86_64", False) == "vnni512"
    assert choose_isa({"avx2", "avx512bw"}, "x86_64", True) == "ubsw512"
    assert choose_isa({"avx2", "avx512bw"}, "x86_64", False) == "generic512"
    assert choose_isa({"avx2"}, "x86_64", True) == "ubsw256" and choose_isa({"avx2"}, "x86_64", False) == "generic256"
    assert choose_isa({"asimddp"}, "aarch64", False) == "sdot" and choose_isa(set(), "aarch64", True) == "generic128"
    assert pair_sums_fit_int16(np.array([1, -1, 1, 1], np.int8).reshape(1, 4, 1, 1))
    assert pair_sums_fit_int16(np.array([64, 64, -64, -64], np.int8).reshape(1, 4, 1, 1))
    assert not pair_sums_fit_int16(np.array([127, 2, 0, 0], np.int8).reshape(1, 4, 1, 1))


def test_bad_geometry_is_refused():
    kw = dict(n=1, h=4, w=4, o=8, isa="vnni512", x_dtype="uint8", outputs=["f32p"], tile_o=4, tile_p=2, pad=1)
    with pytest.raises(ValueError, match="multiple of 4"):
        dot_conv2d_prim_func(c=6, groups=1, kernel=1, padding=0, **kw)
    with pytest.raises(ValueError, match="not a 'same' conv"):
        dot_conv2d_prim_func(c=8, groups=1, kernel=3, padding=2, **kw)
    with pytest.raises(ValueError, match="registers"):
        dot_conv2d_prim_func(c=8, groups=1, kernel=1, padding=0, **{**kw, "tile_p": 8, "o": 64, "tile_o": 8})
