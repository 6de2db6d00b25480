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


def test_model_compares_bit_planes_with_the_dot_rate():
    """Cost = A planes x MACs / popcount rate vs MACs / dot rate, with the target's instructions: on x86
    the dot kernel wins at every A (it keeps the integer dataflow); on ARM without sdot bitserial wins
    for few bits and loses for many; a tie goes to the dot kernel."""
    for name in ("x86-avx2", "x86-avx512"):
        for bits in (1, 2, 4, 8):
            assert modelled_choice(bits, 10**7, get_target(name))[0] == "int8", (name, bits)
    for name, last_bitserial in (("arm64", 3), ("arm64-dotprod", 1)):
        for bits in (1, 2, 3, 4, 8):
            want = "bitserial" if bits <= last_bitserial else "int8"
            assert modelled_choice(bits, 10**7, get_target(name))[0] == want, (name, bits)
    tie = {"bitserial": 4 * DOT_RATES["vnni512"]}
    assert modelled_choice(4, 10**7, get_target("x86-avx512"), tie)[0] == "int8"
    assert modelled_choice(3, 10**7, get_target("x86-avx512"), tie)[0] == "bitserial"
    impl, reason = modelled_choice(4, 29 * 10**6, get_target("x86-avx512"))
    assert 4 / POPCOUNT_RATES["avx512_vpopcntdq"] > 1 / DOT_RATES["vnni512"]
    assert impl == "int8" and "vnni512" in reason and "avx512_vpopcntdq" in reason
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
