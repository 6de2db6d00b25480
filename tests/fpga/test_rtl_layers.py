"""One small conv layer of each kind end to end on the accelerator's RTL under Verilator (the compiler's
program and DRAM image, the host driver's packing): bit-exact with the numpy references of the CPU
kernels and with the Python simulator, the RTL's cycles equal to the cycle model's."""
import numpy as np
import pytest

from tests.fpga.test_layers import INV, binary_case, int8_case
from tvm_sepnet.fpga.compiler import compile_layer
from tvm_sepnet.fpga.runtime import run_layer


@pytest.mark.parametrize("kind", ["binary", "int8"])
def test_conv_layer_on_the_rtl(rtl_pynq, kind):
    spec = rtl_pynq
    if kind == "binary":  # a grouped 3x3 PRB conv, 2-bit activations, residual
        attrs, x, w, scale, offset, res, expected = binary_case(np.random.default_rng(1), 64, 64, 10, 4, 3, 1, 1, 2, True)
    else:  # a pointwise int8 conv, odd channels, two tiles
        attrs, x, w, scale, offset, res, expected = int8_case(np.random.default_rng(2), 40, 24, 9, 1, 1, 1, 0, "uint8", True)
    prog = compile_layer("layer", attrs, x.shape, w, scale, offset, INV, spec, knobs={"tile_h": 4})
    got, stats = run_layer(prog, spec, x, res, engine="rtl")
    sim, model = run_layer(prog, spec, x, res)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, sim)
    assert stats["bgemm" if kind == "binary" else "gemm"] > 0
    assert stats["cycles"] == model["cycles"]
