"""Each offloaded op on the simulator (compile_layer + the host driver) bit-exact against the numpy
references of the CPU kernels, across presets, geometries and tiling knobs; layers that cannot fit
fail with a message naming the layer and the buffer."""
import numpy as np
import pytest

from schedules.bitserial_conv2d.reference import grouped_conv2d_int
from schedules.common import integer_epilogue_np
from schedules.int8_conv2d import reference as int8_ref
from schedules.quantize.reference import quantize
from tvm_sepnet.fpga.compiler import OffloadError, bundle_size, compile_layer
from tvm_sepnet.fpga.runtime import run_layer
from tvm_sepnet.ops import ConvAttrs
from tvm_sepnet.targets.accelerator import load_spec, spec_from_dict

INV = 2.0


def _epilogue(rng, o):
    scale = rng.uniform(1e-3, 1e-2, o).astype(np.float32)
    scale[0] = 0  # a zero-scale channel gives its offset
    return scale, rng.uniform(-30, 30, o).astype(np.float32)


def binary_case(rng, c, o, h, groups, k, stride, pad, bits, residual, batch=1):
    attrs = ConvAttrs(name="kxk", channels=o, in_channels=c, kernel=(k, k), strides=(stride, stride), padding=(pad,) * 4,
                      groups=groups, relu=True, weight_format="binary",
                      act={"kind": "uint", "bits": bits, "scale": 1 / INV, "inv_scale": INV}, residual=residual)
    x = (rng.standard_normal((batch, c, h, h)) * 2).astype(np.float32)
    signs = rng.choice(np.array([-1, 1], np.int8), size=(o, c // groups, k, k))
    scale, offset = _epilogue(rng, o)
    res = rng.standard_normal(attrs.out_shape(x.shape)).astype(np.float32) if residual else None
    q = quantize(x, np.float32(INV), 0, (1 << bits) - 1, "uint8")
    acc = grouped_conv2d_int(q, signs, strides=(stride, stride), padding=(pad,) * 4, dilation=(1, 1), groups=groups)
    return attrs, x, signs, scale, offset, res, integer_epilogue_np(acc, scale, offset, True, res)


def int8_case(rng, c, o, h, groups, k, stride, pad, dtype, residual, batch=1):
    attrs = ConvAttrs(name="pw", channels=o, in_channels=c, kernel=(k, k), strides=(stride, stride), padding=(pad,) * 4,
                      groups=groups, relu=False, weight_format="int8",
                      act={"kind": "uint" if dtype == "uint8" else "int", "bits": 8, "scale": 1 / INV, "inv_scale": INV},
                      residual=residual)
    x = (rng.standard_normal((batch, c, h, h)) * 40).astype(np.float32)
    wq = rng.integers(-127, 128, (o, c // groups, k, k)).astype(np.int8)
    scale, offset = _epilogue(rng, o)
    res = rng.standard_normal(attrs.out_shape(x.shape)).astype(np.float32) if residual else None
    lo, hi = (0, 255) if dtype == "uint8" else (-127, 127)
    xq = quantize(x, np.float32(INV), lo, hi, dtype)
    ref = int8_ref.int8_conv2d(xq, wq, scale, offset, strides=(stride, stride), padding=pad, groups=groups, relu=False,
                               residual=res)
    return attrs, x, wq, scale, offset, res, ref


BINARY = [  # (c, o, h, groups, k, stride, pad, bits, residual)
    (64, 64, 14, 4, 3, 1, 1, 2, True),  # the PRB k×k: 4 groups bundled in one row
    (96, 96, 9, 4, 3, 2, 1, 4, False),  # 24 channels per group, stride 2
    (24, 40, 7, 1, 3, 1, 1, 1, True),  # A = 1, dense
    (160, 32, 6, 2, 5, 1, 2, 3, False),  # 80 channels per group: two binary words, 5x5
]
INT8 = [  # (c, o, h, groups, k, stride, pad, dtype, residual)
    (256, 64, 14, 4, 1, 1, 0, "uint8", True),  # a SEP reduce + residual
    (64, 64, 12, 4, 1, 1, 0, "uint8", False),  # the PRB 1x1: groups bundled (block-diagonal)
    (50, 20, 9, 2, 1, 2, 0, "int8", True),  # odd channels, signed, strided
    (16, 24, 8, 1, 3, 1, 1, "uint8", False),  # a 3x3 int8 conv on the int8 core
]


@pytest.mark.parametrize("preset", ["pynq-z2", "zcu104"])
@pytest.mark.parametrize("case", BINARY)
def test_binary_conv_on_the_binary_unit(preset, case):
    spec = load_spec(preset)
    attrs, x, signs, scale, offset, res, expected = binary_case(np.random.default_rng(sum(case[:4])), *case)
    prog = compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, spec)
    assert prog.kind == "bgemm"
    got, stats = run_layer(prog, spec, x, res)
    np.testing.assert_array_equal(got, expected)
    assert stats["bgemm"] > 0 and stats["bit_macs"] > 0 and stats["macs"] == 0


@pytest.mark.parametrize("preset", ["pynq-z2", "ultra96"])
@pytest.mark.parametrize("case", INT8)
def test_int8_conv_on_the_gemm_core(preset, case):
    spec = load_spec(preset)
    attrs, x, wq, scale, offset, res, expected = int8_case(np.random.default_rng(sum(case[:4])), *case, batch=2)
    prog = compile_layer("pw", attrs, x.shape, wq, scale, offset, INV, spec)
    got, stats = run_layer(prog, spec, x, res)
    np.testing.assert_array_equal(got, expected)
    assert stats["gemm"] > 0 and stats["macs"] > 0


@pytest.mark.parametrize("knobs", [{"tile_h": 1}, {"tile_h": 3, "slots": 1}, {"tile_h": 5, "slots": 2}])
def test_tiling_knobs_change_cycles_not_results(knobs):
    spec = load_spec("pynq-z2")
    attrs, x, signs, scale, offset, res, expected = binary_case(np.random.default_rng(5), *BINARY[0])
    base = compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, spec)
    prog = compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, spec, knobs)
    g = prog.geometry
    assert prog.knobs["tile_h"] == knobs["tile_h"] and prog.tiles == g["groups"] * g["ob"] * -(-14 // knobs["tile_h"])
    got, stats = run_layer(prog, spec, x, res)
    np.testing.assert_array_equal(got, expected)
    _, base_stats = run_layer(base, spec, x, res)
    assert stats["cycles"] != base_stats["cycles"]


def test_group_bundles():
    assert bundle_size(4, 16, 16, 64, 16) == 1  # 4 x 16 outputs do not fit one 16-lane block
    assert bundle_size(4, 16, 16, 128, 64) == 4
    assert bundle_size(4, 24, 24, 128, 64) == 2
    assert bundle_size(1, 640, 1000, 32, 64) == 1


def test_layers_that_do_not_fit_name_layer_and_buffer():
    spec = load_spec("pynq-z2")
    attrs, x, signs, scale, offset, _, _ = binary_case(np.random.default_rng(1), 64, 64, 56, 4, 3, 1, 1, 2, False)
    with pytest.raises(OffloadError, match=r"layer 'kxk': tile_h=56 does not fit the pynq-z2 buffers with 2 slot\(s\) \(1..2\)"):
        compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, spec, {"tile_h": 200, "slots": 2})
    with pytest.raises(OffloadError, match="unknown accelerator knobs"):
        compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, spec, {"tile_w": 2})
    tiny = spec_from_dict({"name": "tiny", "clock_mhz": 100, "luts": 50000, "dsps": 200, "bram_bytes": 1 << 20,
                           "dram_gbps": 1, "gemm": {"block_in": 16, "block_out": 16}, "binary": {"bin_in": 64},
                           "alu_lanes": 4, "buffers": {"inp": 1024, "wgt": 4096, "bin_inp": 1024, "bin_wgt": 4096,
                                                       "acc": 4096, "param": 256}})
    with pytest.raises(OffloadError, match=r"layer 'kxk' \(input 64x56x56, kernel 3x3\): one output row needs more .*bin_inp"):
        compile_layer("kxk", attrs, x.shape, signs, scale, offset, INV, tiny)
    attrs8, x8, wq, scale8, offset8, _, _ = int8_case(np.random.default_rng(2), 640, 16, 7, 1, 1, 1, 0, "uint8", False)
    with pytest.raises(OffloadError, match=r"layer 'pw': 40 weight rows .* exceed 1/2 of the 16-row wgt buffer of tiny"):
        compile_layer("pw", attrs8, x8.shape, wq, scale8, offset8, INV, tiny)
