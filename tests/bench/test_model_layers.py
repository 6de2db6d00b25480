"""The bench's per-layer rows: a pattern block's k×k layer fused into its 1×1 sibling's dot kernel is
charged to that kernel, its MACs counted there."""
from tvm_sepnet.bench.model_layers import fused_layers, layer_macs, peak_of


def _row(name, kernel, c, o, k, groups=4, hw=8):
    return {"name": name, "kind": "binary_conv" if k > 1 else "int8_conv", "kernel": kernel, "in_shape": [1, c, hw, hw],
            "out_shape": [1, o, hw, hw], "kernel_size": [k, k], "groups": groups}


def test_fused_kxk_layers_are_found_and_counted():
    rows = [_row("b_kxk", "binary", 16, 16, 3), _row("b_pw", "dot:vnni512/uint8+b_kxk", 16, 16, 1),
            _row("c_pw", "dot:vnni512/uint8", 16, 32, 1)]
    assert fused_layers(rows) == {"b_kxk": "b_pw"}
    assert layer_macs(rows[0]) == 16 * 8 * 8 * 4 * 9 and layer_macs(rows[1]) == 16 * 8 * 8 * 4
    peaks = {"vnni_mac": 4e11, "ubsw_mac": 3e11, "popcount": 9e11, "int16_mac": 2e11, "fp32_mac": 1e11}
    assert peak_of("dot:vnni512/uint8+b_kxk", peaks) == ("vpdpbusd", 4e11, 1)
    assert peak_of("binary/uint2", {**peaks, "popcount_avx512": 9e11}) == ("vpopcntq", 9e11, 2)
