"""sepnet-bq on the simulated accelerator end to end: bit-exact with the reference executor, the
reports, tiling tuned with the XGBoost cost model through ``tune``, and deployment over TVM RPC to a
simulated board (direct and through a tracker), every process stopped by its pid."""
import json
import time

import numpy as np
import pytest

import tvm_sepnet
from tests.rpc_cluster import RPCCluster, free_port
from tvm_sepnet.autotune import tune
from tvm_sepnet.cli import main
from tvm_sepnet.device import board
from tvm_sepnet.device.deploy import DeployError, deploy
from tvm_sepnet.fpga.report import accelerator_report, format_report
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.tuning.records import TuningMismatchError

SMALL = {"image_size": 64, "num_classes": 10}
X = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    lm = load_zoo("sepnet-bq", **SMALL)
    out = {}
    for preset in ("pynq-z2", "zcu104"):
        art = tvm_sepnet.build(lm.mod, f"fpga-sim:{preset}", **lm.config)
        out[preset] = (art, art.export(str(tmp_path_factory.mktemp(preset) / "m")))
    return out


@pytest.mark.parametrize("preset", ["pynq-z2", "zcu104"])
def test_sepnet_runs_bit_exact_on_the_simulator(built, preset):
    art, path = built[preset]
    res = art.check({"input": X})
    assert res["bit_exact"], res["max_rel_err"]
    convs = [r["name"] for r in art.layers if r["kind"] != "other"]
    assert art.meta["accelerator"]["layers"] == [n for n in convs if n != "conv1"]  # all but the float first conv
    again = tvm_sepnet.load(path)
    assert np.array_equal(again.run({"input": X})[0], res["outputs"][0])


def test_reports_cycles_resources_and_fit(built):
    reps = {p: accelerator_report(built[p][0], {"input": X}) for p in built}
    for p, rep in reps.items():
        assert rep["total_cycles"] == pytest.approx(sum(r["cycles"] for r in rep["layers"]))
        assert rep["images_per_s"] == pytest.approx(rep["clock_mhz"] * 1e6 / rep["total_cycles"])
        assert rep["host_layers"] == ["conv1"] and rep["dram_bytes"] > 0
        for r in rep["layers"]:
            assert 0 < r["mac_utilization"] <= 1 and r["cycles"] > 0
            assert (r["busy"]["bgemm"] > 0) == (r["unit"] == "binary")
        assert "SIMULATED" in format_report(rep)
    # the binary model's weights fit the ZCU104's BRAM + URAM, not the PYNQ-Z2's BRAM
    assert reps["zcu104"]["weights_on_chip"]["fits"] and not reps["pynq-z2"]["weights_on_chip"]["fits"]
    f = reps["zcu104"]["float_kxk"]
    assert f["weights_on_chip"]["need"] > reps["zcu104"]["weights_on_chip"]["need"]
    assert reps["zcu104"]["images_per_s"] > reps["pynq-z2"]["images_per_s"]


def test_tune_tiling_with_xgboost_then_build_with_it(tmp_path):
    wd = str(tmp_path / "wd")
    first = tune("sepnet-bq", "fpga-sim:pynq-z2", 40, wd, search="xgb", trials_per_iter=4, **SMALL)
    # the search must find a tiling faster than the default (simulated cycles and a seeded search: deterministic)
    assert first["trials_this_run"] > 0 and first["tuned_cycles"] < first["default_cycles"]
    again = tune("sepnet-bq", "fpga-sim:pynq-z2", 40, wd, **SMALL)  # the same budget again: nothing left to do
    assert again["trials_this_run"] == 0 and again["tuned_cycles"] == first["tuned_cycles"]
    lines = open(f"{wd}/fpga_records.jsonl", encoding="utf-8").read().splitlines()
    assert all(json.loads(line)["cycles"] > 0 for line in lines)
    lm = load_zoo("sepnet-bq", **SMALL)
    art = tvm_sepnet.build(lm.mod, "fpga-sim:pynq-z2", tuning=wd, **lm.config)
    t = art.meta["accelerator"]["tuning"]
    assert t["tuned"] + t["default"] == len(art.programs) and t["records_used"] == len(first["tasks"])
    assert art.check({"input": X})["bit_exact"]
    rep = accelerator_report(art, {"input": X})
    assert rep["total_cycles"] == pytest.approx(first["tuned_cycles"])
    other = load_zoo("squeezenet1.1", **SMALL)  # another network: no record matches its layers
    with pytest.raises(TuningMismatchError, match="none of which matches a layer"):
        tvm_sepnet.build(other.mod, "fpga-sim:pynq-z2", tuning=wd, kxk="binary", pointwise="int8", act_bits=4)
    with pytest.raises(tvm_sepnet.errors.SepnetError, match="was tuned for target 'fpga-sim:pynq-z2'"):
        tvm_sepnet.build(lm.mod, "fpga-sim:zcu104", tuning=wd, **lm.config)


def test_deploy_to_simulated_board_through_tracker(built):
    _, path = built["pynq-z2"]
    expected_cycles = accelerator_report(built["pynq-z2"][0], {"input": X})["total_cycles"]
    with RPCCluster(servers=0, key="fpga") as c:
        state = board.start("fpga-sim", preset="pynq-z2", port=free_port(), tracker=c.tracker, key="fpga", log=lambda m: None)
        try:
            deadline = time.time() + 60
            from tvm import rpc

            host, port = c.tracker.rsplit(":", 1)
            while rpc.connect_tracker(host, int(port)).summary()["queue_info"].get("fpga", {}).get("free", 0) < 1:
                assert time.time() < deadline, "the board did not register with the tracker"
                time.sleep(0.3)
            res = deploy(path, tracker=c.tracker, key="fpga", inputs={"input": X}, check=True, repeat=1)
            assert res["check"]["bit_exact"] and res["emulated"]
            assert res["device_info"]["accelerator"] == "pynq-z2"
            assert res["simulated_cycles"] == pytest.approx(expected_cycles)
            with pytest.raises(DeployError, match="built for accelerator zcu104; device .* simulates pynq-z2: not uploaded"):
                deploy(built["zcu104"][1], tracker=c.tracker, key="fpga")
            rows = [s for s in board.status() if s["port"] == state["port"]]
            assert rows and rows[0]["alive"] and rows[0]["arch"] == "fpga-sim"
        finally:
            board.stop(state["port"])
    assert not [s for s in board.status() if s["port"] == state["port"]]


def test_cli_compile_tune_and_fpga_report(tmp_path, capsys):
    out = str(tmp_path / "a")
    args = ["--image-size", "32", "--num-classes", "10"]
    assert main(["tune", "sepnet-bq", "--target", "fpga-sim:ultra96", "--trials", "12", "--work-dir", str(tmp_path / "t"),
                 "--json", *args]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["tuned_cycles"] < tuned["default_cycles"] and tuned["target"] == "fpga-sim:ultra96"
    assert main(["compile", "sepnet-bq", "--target", "fpga-sim:ultra96", "--image-size", "32", "--num-classes", "10",
                 "-o", out]) == 0
    capsys.readouterr()
    assert main(["fpga-report", out, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["accelerator"] == "ultra96" and rep["images_per_s"] > 0
    assert main(["fpga-report", str(tmp_path / "missing")]) == 2
    assert main(["tune", "sepnet-bq", "--target", "fpga-sim:ultra96", "--work-dir", str(tmp_path / "t2"),
                 "--tracker", "127.0.0.1:9", "--key", "k", *args]) == 2
    assert "--tracker/--key do not apply" in capsys.readouterr().err
    assert main(["device", "start", "--arch", "fpga-sim", "--preset", "nope"]) == 2
    assert "unknown accelerator 'nope'" in capsys.readouterr().err


def test_deploy_with_a_custom_description_file(tmp_path):
    """An accelerator given as a JSON file: the artifact and a board started from the same file match
    by description (not by path), and the run is bit-exact."""
    from tvm_sepnet.targets.accelerator import PRESET_DIR

    desc = json.load(open(f"{PRESET_DIR}/pynq-z2.json", encoding="utf-8"))
    desc.update(name="my-board", clock_mhz=125)
    path = tmp_path / "my-board.json"
    path.write_text(json.dumps(desc))
    lm = load_zoo("sepnet-bq", image_size=32, num_classes=10)
    art = tvm_sepnet.build(lm.mod, f"fpga-sim:{path}", **lm.config).export(str(tmp_path / "m"))
    state = board.start("fpga-sim", preset=str(path), port=free_port(), log=lambda m: None)
    try:
        x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
        res = deploy(art, host="127.0.0.1", port=state["port"], inputs={"input": x}, check=True, repeat=1)
    finally:
        board.stop(state["port"])
    assert res["check"]["bit_exact"] and res["device_info"]["accelerator"] == "my-board"
    assert res["simulated_ms"] == pytest.approx(res["simulated_cycles"] / 125e3)
