"""tvm-sepnet estimate: the static llvm-mca model of ARM kernels. Loop trip counts come from the
TIR loop nest (checked against the schedule's arithmetic), cycles from llvm-mca."""
import json

import pytest

import tvm_sepnet
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from tvm_sepnet.device.estimate import EstimateError, estimate_artifact, estimate_kernel, mark_innermost_loops
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.targets import get_target


def test_trip_count_of_the_bitserial_hot_loop():
    preset = get_target("arm64")
    # x (1, G=4, Ho=28, A=2, KR=3, Wo=28), 64 outputs: arm knobs tile_o 8, tile_x 4
    func = bitserial_conv2d_prim_func((1, 4, 28, 2, 3, 28), (64, 3), "uint64", relu=True, family=preset.family)
    _, counts = mark_innermost_loops(func)
    assert counts == [4 * (16 // 8) * 28 * (28 // 4) * 2 * 3]  # the kr loop, once per (n,g,o-tile,y,x-tile,a,kr)
    res = estimate_kernel(func, preset, "cortex-a72")
    assert [lp["runs"] for lp in res["loops"]] == counts
    assert res["loops"][0]["instructions"] > 20 and res["cycles"] > counts[0] * 5  # 32 words of popcount work


@pytest.mark.slow
def test_estimate_of_an_arm_artifact_per_layer(tmp_path):
    lm = load_zoo("sepnet-bq", image_size=64, num_classes=10)
    art = tvm_sepnet.build(lm.mod, "arm64", **lm.config)
    path = art.export(str(tmp_path / "m"))
    a72 = estimate_artifact(path, "cortex-a72")
    a53 = estimate_artifact(path, "cortex-a53")
    layers = {r["layer"] for r in a72["layers"]}
    convs = [r["name"] for r in art.layers if r["kind"] != "other"]
    kxk = {n for n in convs if n.endswith("_kxk")}  # on the dot kernel (A=4 on arm64): fused into the 1x1 sibling's
    assert len(convs) == 60 and kxk and not kxk & layers
    assert {"conv1", "sep2_1_prb1_pw", "classifier"} <= layers and len(layers) == 60 - len(kxk) + 4  # + 4 word pools
    assert all(r["cycles_1core"] > 0 for r in a72["layers"])
    assert a72["static_model"] and a72["total_ms_cores"] == pytest.approx(a72["total_ms_1core"] / 4)
    assert a53["total_ms_1core"] > a72["total_ms_1core"]  # the in-order core is slower per clock, and clocked lower
    x86 = tvm_sepnet.build(lm.mod, "x86", **lm.config).export(str(tmp_path / "x"))
    with pytest.raises(EstimateError, match="estimate models ARM cores"):
        estimate_artifact(x86, "cortex-a72")
    json.dumps(a72)


@pytest.mark.slow
def test_estimate_compares_two_builds_per_layer_and_group(tmp_path, capsys):
    """``estimate --compare OLD``: the float dataflow (the previous release's build) against the integer
    dataflow with every k×k conv on the dot kernel: per layer, per group, fused blocks gathered."""
    from tvm_sepnet.cli import main
    from tvm_sepnet.device.estimate import compare_estimates

    lm = load_zoo("sepnet-bq", image_size=32, num_classes=10)
    new = tvm_sepnet.build(lm.mod, "arm64", kernel_choice="int8", **lm.config).export(str(tmp_path / "new"))
    old = tvm_sepnet.build(lm.mod, "arm64", dataflow="float", skip_connections="float", kernel_choice="bitserial",
                           **lm.config).export(str(tmp_path / "old"))
    a, b = estimate_artifact(new, "cortex-a72"), estimate_artifact(old, "cortex-a72")
    cmp = compare_estimates(a, b)
    groups = cmp["groups"]
    block = "pattern block (kxk + 1x1 in one kernel)"
    assert {"float conv", "int8 1x1", block, "classifier (last layer)"} <= set(groups)
    rows = {r["layer"]: r for r in cmp["layers"]}
    # the fused k×k layer has no kernel of its own in the new build: its old time counts in the block's group
    assert rows["sep2_1_prb1_kxk"]["new_ms"] is None and rows["sep2_1_prb1_kxk"]["group"] == block
    assert groups[block]["old_ms"] == pytest.approx(sum(r["old_ms"] for r in cmp["layers"] if r["group"] == block))
    assert groups["int8 1x1"]["speedup"] == pytest.approx(groups["int8 1x1"]["old_ms"] / groups["int8 1x1"]["new_ms"])
    assert cmp["speedup"] == pytest.approx(b["total_ms_1core"] / a["total_ms_1core"])
    assert main(["estimate", new, "--compare", old]) == 0
    out = capsys.readouterr().out
    assert "STATIC MODEL" in out and "by group" in out and block in out
