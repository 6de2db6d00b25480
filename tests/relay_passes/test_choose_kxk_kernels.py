"""ChooseKxkKernels: the choice lands in the layer's impl attribute, and both kernels compute the same
integers (checked against the reference executor end to end)."""
import numpy as np
import onnx
import pytest

import tvm_sepnet
from relay_passes.choose_kxk_kernels import DEFAULT_RATES, modelled_choice
from tests.onnx_models import foreign_model
from tvm_sepnet.frontend import load_onnx


def test_model_prefers_bitserial_for_few_bits_and_int8_for_many_on_large_maps():
    assert modelled_choice(1, 56 * 56, DEFAULT_RATES) == "bitserial"
    assert modelled_choice(8, 56 * 56, DEFAULT_RATES) == "int8"
    assert modelled_choice(8, 7 * 7, DEFAULT_RATES) == "bitserial"


@pytest.mark.parametrize("mode", ["int8", "measure"])
def test_forced_and_measured_choices_match_reference(tmp_path, mode):
    path = str(tmp_path / "m.onnx")
    onnx.save(foreign_model(), path)
    model = load_onnx(path)
    art = tvm_sepnet.build(model.mod, "x86", act_bits=4, kernel_choice=mode, layer_names=model.layer_names,
                           probe_layers=True)
    binary = [r for r in art.layers if r["kind"] == "binary_conv"]
    assert binary and all(r["kernel"].startswith(("int8(", "binary/", "dot:")) for r in binary)
    if mode == "int8":  # ±1 weights as int8: the dot kernel of the integer dataflow, or the int8 kernel
        assert all(r["kernel"].startswith("int8(±1)") or "(±1)" in r["kernel"] for r in binary)
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype("float32")
    assert all(row["bit_exact"] for row in art.check_layers(x))
    with pytest.raises(ValueError, match="kernel choice"):
        tvm_sepnet.build(model.mod, "x86", act_bits=4, kernel_choice="fastest")
