"""The .tflite importer against Larq Compute Engine's own outputs (tests/data/lce/: small networks converted
by LCE and run by its interpreter, written by scripts/make_lce_fixtures.py; no TensorFlow needed here):
compiled and reference outputs agree with LCE exactly where only sign layers (and exact float ops) run,
and within float32 rounding where float convs or dense layers sum in another order. Unsupported input
gets a clear error."""
import glob
import os

import numpy as np
import pytest

import tvm_sepnet
from tvm_sepnet.errors import InvalidModelError, UnsupportedOpError
from tvm_sepnet.frontend import load_model, read_tflite
from tvm_sepnet.frontend.tflite_model import same_padding

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "lce")
FIXTURES = sorted(os.path.basename(p)[:-7] for p in glob.glob(os.path.join(DATA, "*.tflite")))
EXACT = {"single_pad0", "stride2_pad0"}  # sign layers (and batch norms folded into them) only


def _lce(name):
    with np.load(os.path.join(DATA, f"{name}_lce.npz")) as z:
        return z["x"], z["y"]


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2)) if a.ndim == 4 else a


def test_fixtures_are_there():
    assert {"chain_pad1", "single_pad0", "stride2_pad0", "groups_maxpool", "residual_dilation", "quicknet_mini",
            "birealnet_mini"} <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_compiled_tflite_matches_lce(name):
    model = load_model(os.path.join(DATA, f"{name}.tflite"))
    art = tvm_sepnet.build(model.mod, "x86", **model.config)
    assert any(r["kernel"].startswith("xnor:") for r in art.layers)
    x, y = _lce(name)
    for i in range(x.shape[0]):
        xi = _nchw(x[i:i + 1])
        got, ref, want = art.run(xi)[0], art.reference().run(xi)[0], _nchw(y[i:i + 1])
        np.testing.assert_array_equal(got if name in EXACT else ref, ref)  # compiled vs reference
        if name in EXACT:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_lce_file_on_fpga_sim_runs_its_sign_layers_on_the_host(tmp_path):
    """An fpga-sim artifact of an LCE file: no layer is offloaded (the XNOR offload is not implemented),
    the sign layers run on the host's XNOR kernels; the artifact survives export and load (it has an
    empty program list) and gives LCE's outputs."""
    model = load_model(os.path.join(DATA, "quicknet_mini.tflite"))
    art = tvm_sepnet.build(model.mod, "fpga-sim:zcu104", **model.config)
    assert art.programs == {} and art.meta["accelerator"]["layers"] == []
    assert sum(r["kernel"].startswith("xnor:") for r in art.layers) == 4
    loaded = tvm_sepnet.load(art.export(str(tmp_path / "m")))
    assert loaded.programs == {}
    x, y = _lce("quicknet_mini")
    for i in range(x.shape[0]):
        got, want = loaded.run(_nchw(x[i:i + 1]))[0], _nchw(y[i:i + 1])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_lce_ops_become_sign_layers():
    net = read_tflite(os.path.join(DATA, "chain_pad1.tflite"))
    kinds = [n.op for n in net.nodes]
    assert kinds == ["sign_conv2d", "sign_conv2d", "conv2d"]
    first = net.nodes[0]
    assert first.attrs["pad_value"] == 1 and not first.attrs["acc_relu"]  # thresholded output: the ReLU is folded
    assert np.all(net.params[f"{first.name}.multiplier"] == 0.5)  # bit = popcount > threshold, as a multiply-add
    net = read_tflite(os.path.join(DATA, "groups_maxpool.tflite"))
    assert [n.attrs.get("groups") for n in net.nodes if n.op == "sign_conv2d"] == [2, 2]
    assert "max_pool2d" in [n.op for n in net.nodes]  # LceBMaxPool2d


def test_same_padding_is_tensorflow_s():
    assert same_padding(224, 3, 2) == (0, 1) and same_padding(224, 7, 2) == (2, 3) and same_padding(56, 3, 1) == (1, 1)
    assert same_padding(9, 3, 1, dilation=2) == (2, 2)


def test_bad_files_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(InvalidModelError, match="not a TFLite flatbuffer"):
        load_model(str(bad))
    with pytest.raises(InvalidModelError, match="does not exist"):
        load_model(str(tmp_path / "missing.tflite"))
    raw = bytearray(open(os.path.join(DATA, "single_pad0.tflite"), "rb").read())
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(bytes(raw[: len(raw) // 3]))
    with pytest.raises((InvalidModelError, UnsupportedOpError)):
        load_model(str(cut))
