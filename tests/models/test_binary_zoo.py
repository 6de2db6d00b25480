"""The fully binary zoo networks (QuickNet small, Bi-Real Net-18 as Larq Zoo defines them): their sign
layers, compiled without TensorFlow, bit-exact with the reference executor; the same network written by
LCE's converter (tests/data/lce/quicknet_mini, birealnet_mini: scripts/make_lce_fixtures.py) and run by
LCE gives our zoo network's outputs within float rounding; importing a .tflite never imports TensorFlow."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tvm_sepnet
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.models import get_model, to_relax
from tvm_sepnet.models.binary_nets import birealnet18, quicknet_small

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "lce")


def test_architectures_have_larq_zoo_s_layers():
    q = get_model("quicknet", seed=None)
    ops = [n.op for n in q.nodes]
    assert ops.count("sign_conv2d") == 16 and ops.count("add") == 16
    assert [n.attrs["channels"] for n in q.nodes if n.op == "sign_conv2d"][::4] == [32, 64, 256, 512]
    assert all(n.attrs["pad_value"] == 1 and n.attrs["acc_relu"] for n in q.nodes if n.op == "sign_conv2d")
    b = get_model("birealnet", seed=None)
    convs = [n for n in b.nodes if n.op == "sign_conv2d"]
    assert len(convs) == 16 and [c.attrs["strides"] for c in convs].count((2, 2)) == 3
    assert all(c.attrs["pad_value"] == 0 and not c.attrs["acc_relu"] for c in convs)
    # Larq Zoo's parameter counts (12,664,344 and 11,699,112) plus our per-layer multiplier and bias (2 x channels of
    # every sign layer) and the gamma/beta of the stem's batch norm without scale and shift (Keras stores none)
    assert q.num_params() == 12_664_344 + 2 * 4 * (32 + 64 + 256 + 512) + 2 * 8
    assert b.num_params() == 11_699_112 + 2 * 4 * (64 + 128 + 256 + 512)


@pytest.mark.parametrize("name", ["quicknet", "birealnet"])
def test_zoo_binary_nets_compile_and_match_the_reference(name):
    lm = load_zoo(name, image_size=64, num_classes=10)
    art = tvm_sepnet.build(lm.mod, "x86", **lm.config)
    assert sum(r["kernel"].startswith("xnor:") for r in art.layers) == 16
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    res = art.check(x)
    assert res["match"], res["max_abs_err"]


@pytest.mark.parametrize("name,make", [("quicknet_mini", lambda: quicknet_small(image_size=32, num_classes=10, seed=7,
                                                                                  sections=((2, 32), (2, 64)))),
                                       ("birealnet_mini", lambda: birealnet18(image_size=96, num_classes=10, seed=7,
                                                                              filters=16))])
def test_zoo_net_matches_lce_on_its_converted_file(name, make):
    """Our zoo network (batch norms folded in float64) against LCE's interpreter on the converter's file
    (batch norms folded by the converter in float32): the same network within float rounding."""
    net = make()
    art = tvm_sepnet.build(to_relax(net), "x86", kxk="float", pointwise="float", act_bits=None)
    with np.load(os.path.join(DATA, f"{name}_lce.npz")) as z:
        x, y = z["x"], z["y"]
    for i in range(x.shape[0]):
        got = art.run(np.ascontiguousarray(x[i:i + 1].transpose(0, 3, 1, 2)))[0]
        np.testing.assert_allclose(got, y[i:i + 1], rtol=1e-4, atol=1e-6)


def test_tflite_import_needs_no_tensorflow():
    code = ("import sys\n"
            "for m in ('tensorflow', 'tf_keras', 'keras', 'larq', 'larq_compute_engine'): sys.modules[m] = None\n"
            "from tvm_sepnet.frontend import load_model\n"
            f"m = load_model({os.path.join(DATA, 'quicknet_mini.tflite')!r})\n"
            "print(type(m.mod).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "IRModule" in out.stdout
