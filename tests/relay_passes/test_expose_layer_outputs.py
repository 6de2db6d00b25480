"""ExposeLayerOutputs: ``main`` also returns every conv layer's output (Input -> Expected), the layer
names are recorded, and a compiled probe build's extra outputs are the layers' outputs."""
import numpy as np
import tvm
from tvm import relax

from relay_passes import ExposeLayerOutputs
from tvm_sepnet.ops import ConvAttrs, make_conv

RNG = np.random.default_rng(0)
W1 = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)
W2 = RNG.standard_normal((8, 8, 1, 1)).astype(np.float32)
ONES, ZEROS = np.ones(8, np.float32), np.zeros(8, np.float32)
A1 = ConvAttrs("first", 8, 4, (3, 3), padding=(1, 1, 1, 1), relu=True)
A2 = ConvAttrs("second", 8, 8, (1, 1))


def _two_convs(probed: bool):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(make_conv(x, W1, ONES, ZEROS, A1), name_hint="a")
            b = bb.emit(make_conv(a, W2, ONES, ZEROS, A2), name_hint="b")
            c = bb.emit(relax.op.nn.relu(b), name_hint="c")
            out = bb.emit_output(c, name_hint="gv")
            if probed:
                pa = bb.emit_output(a, name_hint="probe_a")  # probes leave the dataflow block
                pb = bb.emit_output(b, name_hint="probe_b")
                out = bb.emit_output(relax.Tuple([out, pa, pb]), name_hint="probed_outputs")
        bb.emit_func_output(out)
    mod = bb.get()
    if probed:
        mod["main"] = mod["main"].with_attr("sepnet.probed_layers", ["first", "second"])
    return mod


def test_structural_every_conv_output_is_returned_after_the_outputs():
    got = ExposeLayerOutputs()(_two_convs(False))
    tvm.ir.assert_structural_equal(got, _two_convs(True))
    assert list(got["main"].attrs["sepnet.probed_layers"]) == ["first", "second"]


def test_a_model_without_convs_only_gains_a_tuple():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.relu(x))
        bb.emit_func_output(out)
    got = ExposeLayerOutputs()(bb.get())
    assert isinstance(got["main"].ret_ty, relax.TupleType) and len(got["main"].ret_ty.fields) == 1
    assert list(got["main"].attrs["sepnet.probed_layers"]) == []
