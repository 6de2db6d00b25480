"""ChooseKxkKernels: the choice lands in the layer's impl attribute, and both kernels compute the same
integers (checked against the reference executor end to end)."""
import numpy as np
import onnx
import pytest

import tvm_sepnet
from relay_passes.choose_kxk_kernels import DOT_RATES, POPCOUNT_RATES, modelled_choice
from tests.onnx_models import foreign_model
from tvm_sepnet.frontend import load_onnx
from tvm_sepnet.targets import get_target


def test_model_prefers_bitserial_for_few_bits_and_the_dot_kernel_for_many():
    """Cost = A planes x MACs / popcount rate vs MACs / dot rate, with the target's instructions."""
    for name in ("x86-avx2", "x86-avx512", "arm64-dotprod"):
        preset = get_target(name)
        assert modelled_choice(1, 10**7, preset)[0] == "bitserial"
        assert modelled_choice(8, 10**7, preset)[0] == "int8"
    impl, reason = modelled_choice(4, 29 * 10**6, get_target("x86-avx512"))
    want = "bitserial" if 4 / POPCOUNT_RATES["avx512_vpopcntdq"] <= 1 / DOT_RATES["vnni512"] else "int8"
    assert impl == want and "vnni512" in reason and "avx512_vpopcntdq" in reason
    # a rate override decides
    assert modelled_choice(4, 10**7, get_target("x86-avx2"), {"bitserial": 1e15})[0] == "bitserial"


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
