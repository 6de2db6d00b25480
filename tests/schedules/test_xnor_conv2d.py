"""xnor_conv2d: the numpy twin against brute-force loops over taps (the contract of docs/numerics.md,
"Sign layers"), and the XOR + popcount kernel against the twin on random shapes (odd channels, stride 2,
dilation, padding 0/1 (and TensorFlow's asymmetric SAME at stride 2) with both pad values, groups 1/2/3/4/5
(odd channels per group too), LCE's fused ReLU, residual, float or bits
input, float and bits outputs) for every x86 ISA this host runs; the others are compiled and their
popcount instruction checked in the assembly."""
import numpy as np
import pytest
import tvm

from schedules.bit_layout import from_bits, pack_sign_bits, to_bits, unpack_sign_bits
from schedules.word_layout import Domain
from schedules.xnor_conv2d.kernel import XNOR_ISAS, choose_xnor_isa, output_shape, xnor_conv2d_prim_func
from schedules.xnor_conv2d.packing import padding_correction, prepare_weights
from schedules.xnor_conv2d.reference import epilogue_constants, out_size, sign, xnor_conv2d
from tvm_sepnet.targets import host_cpu_flags, host_mcpu

HOST_ISAS = [name for name, isa in XNOR_ISAS.items() if name != "neon" and set(isa.requires) <= host_cpu_flags()]


def brute_force(x, signs, mult, bias, *, stride, padding, dilation, groups, pad_value, acc_relu, relu, residual):
    """Loops over output pixels and taps, float64, from the definition (no shared code with the twin)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = signs.shape
    top, left, bottom, right = padding
    ho = (h + top + bottom - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + left + right - dilation * (kw - 1) - 1) // stride + 1
    k = kh * kw * cg
    out = np.zeros((n, o, ho, wo), np.float32)
    for b in range(n):
        for oc in range(o):
            g = oc // (o // groups)
            for y in range(ho):
                for xx in range(wo):
                    differ, outside_w = 0, 0
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = y * stride + ky * dilation - top, xx * stride + kx * dilation - left
                            for ci in range(cg):
                                wv = int(signs[oc, ci, ky, kx])
                                if 0 <= iy < h and 0 <= ix < w:
                                    xv = -1 if x[b, g * cg + ci, iy, ix] < 0 else 1
                                else:
                                    xv, outside_w = 1, outside_w + wv
                                differ += xv != wv
                    pc = np.float32(differ)
                    if acc_relu:
                        pc = np.float32((k - max(k - 2 * differ, 0)) / 2)
                    m2 = np.float32(-2.0) * mult[oc]
                    cst = np.float32(np.float64(bias[oc]) + np.float64(k) * np.float64(mult[oc]))
                    v = np.float32(np.float32(pc * m2) + cst)
                    if pad_value == 0:
                        v = np.float32(v - np.float32(np.float32(outside_w) * mult[oc]))
                    if residual is not None:
                        v = np.float32(v + residual[b, oc, y, xx])
                    out[b, oc, y, xx] = max(v, np.float32(0)) if relu else v
    return out


def _problem(rng, n, c, h, w, o, groups, k):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    x.reshape(-1)[:: 7] = 0.0  # zeros are +1
    x.reshape(-1)[3] = -0.0
    signs = rng.choice(np.array([-1, 1], np.int8), (o, c // groups, k, k))
    mult = (rng.standard_normal(o) * 0.05).astype(np.float32)
    mult[0] = 0.0
    bias = rng.standard_normal(o).astype(np.float32)
    return x, signs, mult, bias


TWIN_CASES = [  # n, c, h, w, o, groups, k, stride, pad, dilation, pad_value, acc_relu, relu, residual
    (1, 5, 5, 6, 4, 1, 3, 1, 1, 1, 1, False, False, False),
    (1, 6, 6, 5, 4, 2, 3, 2, 1, 1, 0, False, True, True),
    (2, 8, 5, 5, 8, 4, 3, 1, 1, 1, 1, True, False, True),
    (1, 3, 7, 7, 2, 1, 3, 1, 2, 2, 0, False, False, False),
    (1, 7, 4, 4, 3, 1, 1, 1, 0, 1, 1, True, True, False),
]


@pytest.mark.parametrize("case", TWIN_CASES)
def test_twin_matches_brute_force(case):
    n, c, h, w, o, groups, k, stride, pad, dil, pad_value, acc_relu, relu, has_res = case
    rng = np.random.default_rng(sum(case[:7]))
    x, signs, mult, bias = _problem(rng, n, c, h, w, o, groups, k)
    ho, wo = out_size(h, w, (k, k), (stride, stride), pad, (dil, dil))
    res = rng.standard_normal((n, o, ho, wo)).astype(np.float32) if has_res else None
    geo = dict(strides=(stride, stride), padding=(pad,) * 4, dilation=(dil, dil), groups=groups)
    got = xnor_conv2d(x, signs, mult, bias, pad_value=pad_value, acc_relu=acc_relu, relu=relu, residual=res, **geo)
    want = brute_force(x, signs, mult, bias, stride=stride, padding=(pad,) * 4, dilation=dil, groups=groups,
                       pad_value=pad_value, acc_relu=acc_relu, relu=relu, residual=res)
    np.testing.assert_array_equal(got, want)


def test_sign_maps_zero_to_plus_one_and_bits_round_trip():
    x = np.array([-1.0, -0.0, 0.0, 2.0, -1e-30, np.nan], np.float32).reshape(1, 6, 1, 1)
    np.testing.assert_array_equal(sign(x).reshape(-1), [-1, 1, 1, 1, -1, 1])
    rng = np.random.default_rng(1)
    for c, groups in ((35, 1), (64, 2), (40, 4), (96, 3)):
        y = rng.standard_normal((2, c, 3, 4)).astype(np.float32)
        words = pack_sign_bits(y, groups)
        assert words.shape == (2, groups * -(-(c // groups) // 32), 3, 4) and words.dtype == np.int32
        np.testing.assert_array_equal(unpack_sign_bits(words, c, groups), sign(y))
        dom = Domain(2, 3, 4, 1)
        rows = to_bits(y, dom, groups)
        np.testing.assert_array_equal(from_bits(rows, dom, c, groups), sign(y))
    # LCE's convention: channel c at bit c % 32 of word c // 32, bit 1 = -1
    one = np.ones((1, 40, 1, 1), np.float32)
    one[0, 33] = -1
    assert pack_sign_bits(one)[0, :, 0, 0].tolist() == [0, 2]


KERNEL_CASES = [  # n, c, h, w, o, groups, k, stride, pad, pad_value, acc_relu, relu, residual, float_in, outputs
    (1, 64, 9, 11, 64, 1, 3, 1, 1, 1, False, False, False, False, ["f32", ("bits", 1, 64)]),
    (1, 35, 9, 9, 16, 1, 3, 2, 1, 0, False, False, False, True, ["f32"]),  # odd channels, stride 2, zero padding
    (2, 40, 7, 13, 32, 2, 3, 1, 1, 0, False, True, True, False, ["f32", ("bits", 1, 32)]),
    (1, 64, 8, 8, 64, 4, 3, 1, 1, 1, True, False, True, True, [("bits", 1, 16), "f32"]),
    (1, 36, 6, 7, 24, 3, 3, 1, 0, 1, False, True, False, True, ["f32"]),  # valid, 3 groups of 12
    (1, 32, 14, 14, 32, 1, 1, 1, 0, 1, True, False, False, False, [("bits", 2, 32)]),
    (1, 33, 10, 21, 8, 1, 3, 2, 1, 1, False, False, True, True, ["f32"]),
    (1, 44, 9, 8, 32, 4, 3, 2, 1, 0, False, True, True, True, ["f32"]),  # 4 groups of 11, stride 2, zero padding
    (1, 44, 9, 8, 32, 4, 3, 2, 1, 1, True, False, False, False, ["f32", ("bits", 1, 8)]),  # the same, +1 padding
    (1, 45, 8, 9, 30, 3, 3, 2, 0, 0, True, False, False, False, ["f32", ("bits", 1, 10)]),  # valid, pad value 0
    (1, 64, 10, 10, 64, 1, 3, 2, (0, 0, 1, 1), 0, False, False, True, False, ["f32"]),  # TF SAME at stride 2
    (1, 64, 12, 10, 32, 2, 3, 2, (0, 0, 1, 1), 1, False, True, False, True, ["f32"]),  # (Bi-Real's downsampling)
    (1, 20, 7, 7, 20, 5, 3, 1, 1, 0, False, False, False, False, ["f32", ("bits", 1, 4)]),  # 5 groups of 4
]


def tile_o_of(case) -> int:
    """The lowering's output-channel tile: the largest of 8, 4, 2, 1 that divides the channels per group."""
    og = case[4] // case[5]
    return next(t for t in (8, 4, 2, 1) if og % t == 0)


def _run(case, isa, tile_o=8, tile_p=2, target=None):
    n, c, h, w, o, groups, k, stride, pad, pad_value, acc_relu, relu, has_res, float_in, outputs = case
    rng = np.random.default_rng(c * 100 + h + o)
    x, signs, mult, bias = _problem(rng, n, c, h, w, o, groups, k)
    padding, strides = pad if isinstance(pad, tuple) else (pad,) * 4, (stride, stride)
    ho, wo = out_size(h, w, (k, k), strides, padding, (1, 1))
    res = rng.standard_normal((n, o, ho, wo)).astype(np.float32) if has_res else None
    want = xnor_conv2d(x, signs, mult, bias, strides=strides, padding=padding, groups=groups, pad_value=pad_value,
                       acc_relu=acc_relu, relu=relu, residual=res)
    m2, cst = epilogue_constants(mult, bias, k * k * (c // groups))
    pad_in = max(*padding, 1)
    args = [x if float_in else to_bits(x, Domain(n, h, w, pad_in), groups), prepare_weights(signs, tile_o), m2, cst]
    corr_shape = None
    if pad_value == 0 and any(padding):
        tile = tile_p * XNOR_ISAS[isa].lanes
        corr, rowcls = padding_correction(signs, mult, h, w, ho, wo, strides=strides, padding=padding, dilation=(1, 1),
                                          width=-(-wo // tile) * tile)
        args += [corr, rowcls]
        corr_shape = corr.shape[1:]
    args += [res] if has_res else []
    func = xnor_conv2d_prim_func(n=n, c=c, h=h, w=w, o=o, groups=groups, kernel=(k, k), strides=strides, padding=padding,
                                 pad_in=pad_in, isa=isa, outputs=outputs, tile_o=tile_o, tile_p=tile_p, pad_value=pad_value,
                                 acc_relu=acc_relu, relu=relu, residual=has_res, float_in=float_in, corr_shape=corr_shape)
    return func, args, want, (n, o, ho, wo, outputs)


@pytest.mark.parametrize("isa", HOST_ISAS)
@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda c: "-".join(str(v) for v in c[:10]))
def test_kernel_matches_twin(case, isa):
    tile_p = 2 if XNOR_ISAS[isa].registers >= 32 else 1
    func, args, want, (n, o, ho, wo, outputs) = _run(case, isa, tile_o=tile_o_of(case), tile_p=tile_p)
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2}))
    outs = [tvm.runtime.tensor(np.full(output_shape(s, n, o, ho, wo), 77, "float32" if s == "f32" else "int32"))
            for s in outputs]  # garbage: every value read later must be written
    lib["main"](*[tvm.runtime.tensor(a) for a in args], *outs)
    for spec, got in zip(outputs, outs):
        got = got.numpy()
        if spec == "f32":
            np.testing.assert_array_equal(got, want)
            continue
        dom = Domain(n, ho, wo, spec[1])
        np.testing.assert_array_equal(from_bits(got, dom, o, o // spec[2]), sign(want))
        plane = got[:, :, dom.pad:dom.pad + dom.q].reshape(n, -1, dom.hp, dom.wp)
        p = dom.pad
        assert np.all(plane[:, :, :p] == 0) and np.all(plane[:, :, :, :p] == 0)
        assert np.all(plane[:, :, dom.hp - p:] == 0) and np.all(plane[:, :, :, dom.wp - p:] == 0)


@pytest.mark.parametrize("isa,target,instruction", [
    ("vpopcnt512", {"kind": "llvm", "mcpu": "icelake-server"}, "vpopcntd"),
    ("avx512", {"kind": "llvm", "mcpu": "skylake-avx512"}, "vpshufb"),
    ("avx2", {"kind": "llvm", "mcpu": "haswell"}, "vpshufb"),
    ("neon", {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "mattr": ["+neon"]}, "cnt\tv"),
    ("neon", {"kind": "llvm", "mtriple": "armv7a-linux-gnueabihf", "mcpu": "cortex-a15", "mattr": ["+neon"],
              "mfloat-abi": "hard"}, "vcnt.8"),
])
def test_every_isa_emits_its_popcount(isa, target, instruction):
    func, _, _, _ = _run(KERNEL_CASES[0], isa, tile_o=8, tile_p=1)
    lib = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}),
                      target=tvm.target.Target({**target, "num-cores": 2}))
    assert instruction in lib.mod.inspect_source("asm")


def test_isa_choice_and_bad_geometry():
    assert choose_xnor_isa({"avx512f", "avx512_vpopcntdq", "avx512bw"}, "x86_64") == "vpopcnt512"
    assert choose_xnor_isa({"avx512f", "avx512bw", "avx2"}, "x86_64") == "avx512"
    assert choose_xnor_isa({"avx2"}, "x86_64") == "avx2" and choose_xnor_isa(set(), "aarch64") == "neon"
    kw = dict(n=1, c=32, h=6, w=6, o=32, groups=1, kernel=(3, 3), isa="avx2", outputs=["f32"], tile_p=1)
    with pytest.raises(ValueError, match="halo"):
        xnor_conv2d_prim_func(padding=2, pad_in=1, tile_o=8, **kw)
    with pytest.raises(ValueError, match="registers"):
        xnor_conv2d_prim_func(padding=1, pad_in=1, tile_o=16, **{**kw, "tile_p": 2})
    with pytest.raises(ValueError, match="correction"):
        xnor_conv2d_prim_func(padding=1, pad_in=1, tile_o=8, pad_value=0, **kw)
    with pytest.raises(ValueError, match="neither"):
        xnor_conv2d_prim_func(padding=1, pad_in=1, tile_o=8, **{**kw, "outputs": [("bits", 1, 40)]})
