"""End to end on SEP-Net: residual adds fused into the conv kernels change no bit of the output (with
float skip connections), the fused model matches the reference executor layer by layer, and the skip
connections carried in 8 bits (the default) differ from the float ones by the quantization step only."""
import numpy as np
import pytest

import tvm_sepnet
from tests.conftest import count_ops
from tvm_sepnet.builder import quantize_model
from tvm_sepnet.frontend import load_zoo


@pytest.fixture(scope="module")
def small_sepnet():
    lm = load_zoo("sepnet-bq", image_size=64, num_classes=10)
    x = np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)
    return lm, {"input": x}


def test_every_residual_add_is_fused(small_sepnet):
    lm, _ = small_sepnet
    fused = quantize_model(lm.mod, **lm.config)
    plain = quantize_model(lm.mod, fuse_epilogues=False, **lm.config)
    # 9 SEP modules: 18 PRB adds + 9 skip adds
    assert count_ops(plain)["relax.add"] == 27
    assert count_ops(fused).get("relax.add", 0) == 0
    assert count_ops(fused).get("relax.nn.relu", 0) == 0


@pytest.mark.slow
@pytest.mark.parametrize("act_bits", [2, 8])
def test_fused_build_equals_unfused_and_reference(small_sepnet, act_bits):
    lm, inputs = small_sepnet
    cfg = {**lm.config, "act_bits": act_bits}
    fused = tvm_sepnet.build(lm.mod, target="x86", probe_layers=True, skip_connections="float", **cfg)
    plain = tvm_sepnet.build(lm.mod, target="x86", fuse_epilogues=False, **cfg)
    n_out = len(fused.graph["outputs"])
    np.testing.assert_array_equal(fused.run(inputs)[:n_out][0], plain.run(inputs)[0])
    rows = fused.check_layers(inputs)
    assert len(rows) == 60 and all(r["bit_exact"] for r in rows), [r for r in rows if not r["bit_exact"]]
    quantized = tvm_sepnet.build(lm.mod, target="x86", probe_layers=True, **cfg)  # skip connections in 8 bits
    restores = [n for n in quantized.graph["nodes"] if n["op"] == "sepnet.conv2d" and n["attrs"].get("residual_quant")]
    assert len(restores) == 9  # every SEP module: its input, the skip, is what its reduce conv reads in 8 bits
    rows = quantized.check_layers(inputs)
    assert len(rows) == 60 and all(r["bit_exact"] for r in rows), [r for r in rows if not r["bit_exact"]]
