"""The emulated arm64 board (a real TVM RPC server in aarch64 Python under qemu, CPU pinned) behind a
real tracker on 127.0.0.1: deploy sepnet-bq bit-exact, refuse an x86 artifact before upload, fail
fast on unreachable devices, survive nothing silently when the board dies mid-run, and tune on it."""
import threading
import time

import numpy as np
import pytest

import tvm_sepnet
from tests.rpc_cluster import RPCCluster, free_port
from tvm_sepnet.artifact import load_reference
from tvm_sepnet.device import board
from tvm_sepnet.device.deploy import DeployError, deploy
from tvm_sepnet.frontend import load_zoo

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("board_tree")]  # tests/arm/conftest.py
SMALL = {"image_size": 64, "num_classes": 10}
KEY = "arm64-a72-test"


@pytest.fixture(scope="module")
def cluster():
    with RPCCluster(servers=0) as c:
        state = board.start("arm64", cpu="cortex-a72", port=free_port(), tracker=c.tracker, key=KEY, log=lambda m: None)
        try:
            deadline = time.time() + 60
            from tvm import rpc

            host, port = c.tracker.rsplit(":", 1)
            while rpc.connect_tracker(host, int(port)).summary()["queue_info"].get(KEY, {}).get("free", 0) < 1:
                assert time.time() < deadline, "the board did not register with the tracker"
                time.sleep(0.3)
            yield c, state
        finally:
            board.stop(state["port"])


def _exported(tmp_path_factory, target: str) -> str:
    lm = load_zoo("sepnet-bq", **SMALL)
    art = tvm_sepnet.build(lm.mod, target, **lm.config)
    return art.export(str(tmp_path_factory.mktemp(target) / "m"))


@pytest.fixture(scope="module")
def arm_artifact(tmp_path_factory):
    return _exported(tmp_path_factory, "arm64")


def test_board_is_recorded_and_alive(cluster):
    _, state = cluster
    rows = [s for s in board.status() if s["port"] == state["port"]]
    assert rows and rows[0]["alive"] and rows[0]["cpu"] == "cortex-a72"


def test_deploy_through_tracker_is_bit_exact(cluster, arm_artifact, tmp_path):
    c, _ = cluster
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    res = deploy(arm_artifact, tracker=c.tracker, key=KEY, inputs={"input": x}, check=True, repeat=2,
                 output=str(tmp_path / "y.npy"))
    assert res["emulated"] and res["device_info"]["machine"] == "aarch64" and res["device_info"]["cpu"] == "cortex-a72"
    assert res["check"]["bit_exact"], res["check"]
    assert res["remote_ms"] > 0 and np.array_equal(np.load(tmp_path / "y.npy"), res["outputs"][0])


def test_profile_on_the_board(cluster, arm_artifact):
    """tvm-sepnet profile through the tracker: each layer kernel timed on the board, the kernels' sum
    within the whole model's remote time, the layers' MACs the float network's count."""
    from tvm_sepnet.bench.layer_profile import profile_artifact
    from tvm_sepnet.models import get_model

    c, _ = cluster
    res = profile_artifact(arm_artifact, tracker=c.tracker, key=KEY, repeat=2, ort=False)
    assert res["device_info"]["machine"] == "aarch64" and res["peaks"] is None
    layer_rows = [r for r in res["rows"] if r["kernel"] is not None]
    assert len(layer_rows) >= 30 and all(r["ms"] > 0 and r["gops"] > 0 for r in layer_rows)
    assert sum(r["macs"] for r in layer_rows) == get_model("sepnet-bq", seed=None, **SMALL).macs()
    assert abs(sum(r["share"] for r in res["rows"]) - 1.0) < 1e-9
    assert 0.3 * res["total_ms"] <= res["kernels_ms"] <= 1.5 * res["total_ms"], (res["kernels_ms"], res["total_ms"])


def test_x86_artifact_is_refused_before_upload(cluster, tmp_path):
    c, _ = cluster
    lm = load_zoo("sepnet-bq", **SMALL)
    path = tvm_sepnet.build(lm.mod, "x86", **lm.config).export(str(tmp_path / "x86"))
    with pytest.raises(DeployError, match=r"built for x86 \(x86_64\).*aarch64 \(cortex-a72\): not uploaded"):
        deploy(path, tracker=c.tracker, key=KEY)


def test_unreachable_device_and_tracker_fail_fast(arm_artifact):
    start = time.time()
    with pytest.raises(DeployError, match="RPC device 127.0.0.1:.* is unreachable"):
        deploy(arm_artifact, host="127.0.0.1", port=free_port())
    with pytest.raises(DeployError, match="RPC tracker 127.0.0.1:.* is unreachable"):
        deploy(arm_artifact, tracker=f"127.0.0.1:{free_port()}", key=KEY)
    assert time.time() - start < 30


def test_board_killed_during_timing_keeps_fetched_outputs(arm_artifact, tmp_path):
    """Outputs are fetched (and saved) before timing: the board dies while timing, the error says
    where the outputs are, and they are the reference executor's, bit for bit."""
    state = board.start("arm64", cpu="cortex-a72", port=free_port(), log=lambda m: None)
    out = tmp_path / "y.npy"
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 64)).astype(np.float32)
    errors = []

    def run():
        try:
            deploy(arm_artifact, host="127.0.0.1", port=state["port"], inputs={"input": x}, repeat=2000, output=str(out))
        except DeployError as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.time() + 120
        while not out.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert out.exists(), "no outputs fetched"
        time.sleep(1.0)
    finally:
        board.stop(state["port"])
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert errors and f"127.0.0.1:{state['port']}" in str(errors[0]) and "saved to" in str(errors[0])
    (want,) = load_reference(arm_artifact).run({"input": x})
    np.testing.assert_array_equal(np.load(out), want)


def test_tune_on_the_board_and_deploy_the_tuned_build(cluster, tmp_path):
    from tvm_sepnet.autotune import tune

    c, _ = cluster
    wd = str(tmp_path / "tune")
    bitserial = {"kernel_choice": "bitserial"}  # a MetaSchedule task (the model's A=4 choice on arm64 is int8)
    summary = tune("sepnet-bq", "arm64", trials=2, work_dir=wd, trials_per_iter=2, tracker=c.tracker, key=KEY,
                   timeout=120, only=["bitserial_conv2d[sep2_1_prb1_kxk"], config=bitserial, **SMALL)
    assert summary["trials_this_run"] == 2 and summary["tasks"][0]["hand_ms"] > 0
    lm = load_zoo("sepnet-bq", **SMALL)
    art = tvm_sepnet.build(lm.mod, "arm64", tuning=wd, **{**lm.config, **bitserial})
    assert art.meta["tuning"]["tuned"] + art.meta["tuning"]["hand_faster"] == 1
    res = deploy(art.export(str(tmp_path / "m")), tracker=c.tracker, key=KEY, check=True, repeat=1)
    assert res["check"]["bit_exact"]


@pytest.fixture(scope="module")
def dotprod_artifact(tmp_path_factory):
    return _exported(tmp_path_factory, "arm64-dotprod")


def test_dotprod_build_is_bit_exact_on_a_cortex_a76_board(dotprod_artifact):
    """arm64-dotprod (int8 1x1 convs on sdot) on a board pinned to a Cortex-A76: bit-exact."""
    state = board.start("arm64", cpu="cortex-a76", port=free_port(), log=lambda m: None)
    try:
        res = deploy(dotprod_artifact, host="127.0.0.1", port=state["port"], check=True, repeat=1)
    finally:
        board.stop(state["port"])
    assert res["device_info"]["cpu"] == "cortex-a76" and "asimddp" in res["device_info"]["features"]
    assert res["check"]["bit_exact"], res["check"]


def test_dotprod_build_is_refused_by_a_board_without_dotprod(cluster, dotprod_artifact):
    c, _ = cluster
    with pytest.raises(DeployError, match=r"needs CPU features asimddp; device .* \(cortex-a72\) lacks them: not uploaded"):
        deploy(dotprod_artifact, tracker=c.tracker, key=KEY)


def test_deploy_lce_file_matches_lce(cluster, tmp_path):
    """A Larq Compute Engine .tflite (tests/data/lce/quicknet_mini: 4 sign layers, bits between them) on the
    emulated Cortex-A72 board: bit-exact with the reference executor, within float rounding of LCE's output."""
    import os

    from tvm_sepnet.frontend import load_model

    c, _ = cluster
    data = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "lce")
    lm = load_model(os.path.join(data, "quicknet_mini.tflite"))
    path = tvm_sepnet.build(lm.mod, "arm64", **lm.config).export(str(tmp_path / "q"))
    with np.load(os.path.join(data, "quicknet_mini_lce.npz")) as z:
        x, y = z["x"][:1], z["y"][:1]
    res = deploy(path, tracker=c.tracker, key=KEY, inputs={"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))},
                 check=True)
    assert res["check"]["match"], res["check"]
    np.testing.assert_allclose(res["outputs"][0], y, rtol=1e-5, atol=1e-7)
