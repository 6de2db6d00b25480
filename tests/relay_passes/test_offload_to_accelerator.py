"""OffloadToAccelerator: supported layers become call_dps_packed calls of the accelerator driver (with
their residual operand), float layers stay for the host; the recorded programs are the layers'."""
import numpy as np
import tvm
from tvm import relax

from relay_passes import FuseReLU, FuseResidualAdd, OffloadToAccelerator
from relay_passes.report import OffloadReport
from tests.conftest import conv_layers
from tests.relay_passes.test_fuse_residual_add import _prb
from tvm_sepnet.ops import ConvAttrs, make_conv
from tvm_sepnet.targets.accelerator import load_spec


def test_structural_fused_prb_becomes_two_accelerator_calls():
    mod = FuseReLU()(FuseResidualAdd()(_prb()[0]))
    found = OffloadReport()
    got = OffloadToAccelerator(load_spec("pynq-z2"), "m1", report=found)(mod)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            k = bb.emit(relax.call_dps_packed("sepnet.fpga.m1.kxk", relax.Tuple([x]), relax.TensorType((1, 8, 6, 6), "float32")),
                        name_hint="k")
            y = bb.emit(relax.call_dps_packed("sepnet.fpga.m1.pw", relax.Tuple([x, k]),
                                              relax.TensorType((1, 8, 6, 6), "float32")),
                        name_hint="y")
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    tvm.ir.assert_structural_equal(got, bb.get())
    assert sorted(found.programs) == ["kxk", "pw"] and found.programs["pw"].geometry["residual"]
    assert found.programs["kxk"].kind == "gemm"  # int8 weights: the int8 core, 3x3 too


def test_float_and_binary_float_activation_layers_stay_on_the_host():
    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 8, 6, 6), "float32"))
    wf = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(make_conv(x, wf, np.ones(8, np.float32), np.zeros(8, np.float32),
                                  ConvAttrs("first", 8, 8, (3, 3), padding=(1, 1, 1, 1))))
            out = bb.emit_output(a)
        bb.emit_func_output(out)
    mod = bb.get()
    found = OffloadReport()
    got = OffloadToAccelerator(load_spec("zcu104"), "m2", report=found)(mod)
    tvm.ir.assert_structural_equal(got, mod)
    assert found.programs == {} and [c.attrs.name for c in conv_layers(got)] == ["first"]
