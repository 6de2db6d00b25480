"""``tvm-sepnet profile`` on the host: every layer kernel charged to its layer, shares summing to 1, the
layers' MACs equal to the float network's own count, the per-layer sum near the whole model's time
measured on its own, and onnxruntime's per-layer times of the same float network beside them."""
import json
import os

import numpy as np
import pytest

import tvm_sepnet
from tvm_sepnet.bench.layer_profile import profile_artifact
from tvm_sepnet.bench.ort_layers import node_owners
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.models import get_model, save_onnx

SMALL = {"image_size": 48, "num_classes": 10}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    lm = load_zoo("sepnet-bq", **SMALL)
    art = tvm_sepnet.build(lm.mod, "x86", **lm.config)
    art.meta["model"] = "sepnet-bq"
    return art.export(str(tmp_path_factory.mktemp("prof") / "bq"))


def test_profile_on_host(artifact):
    res = profile_artifact(artifact, repeat=3, threads=1)
    with open(os.path.join(artifact, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    layer_rows = [r for r in res["rows"] if r["kernel"] is not None]
    convs = {r["name"] for r in meta["layers"] if r["kind"] != "other"}
    timed = {name for name, kernels in meta["layer_kernels"].items() if kernels and name in convs}
    assert {r["name"] for r in layer_rows} == timed  # every layer with kernels has its row
    assert all(r["ms"] > 0 for r in res["rows"])
    assert abs(sum(r["share"] for r in res["rows"]) - 1.0) < 1e-9
    # the MACs of the rows (fused k×k layers counted in their kernel's row) are the float network's MACs
    assert sum(r["macs"] for r in layer_rows) == get_model("sepnet-bq", seed=None, **SMALL).macs()
    # the per-layer sum is near the model's own time (the hook adds a little per call; per-group medians drop
    # the preemptions of a shared machine that the whole-model median keeps)
    assert 0.25 * res["total_ms"] <= res["kernels_ms"] <= 4.0 * res["total_ms"], (res["kernels_ms"], res["total_ms"])
    # under 4x the peak: a sanity bound (a MAC count off by a layer would break it); not tighter, since on a shared
    # machine the peak micro-kernels measured while an SMT sibling is busy read about half the quiet peak
    assert all(0 < r["pct_peak"] < 400 for r in layer_rows), [(r["name"], r["pct_peak"]) for r in layer_rows]
    assert all(r["gops"] == pytest.approx(2 * r["gmacs"]) for r in layer_rows)
    # onnxruntime on the same float network: every layer row has its nodes' time, no Conv left unmatched
    assert res["ort"]["total_ms"] > 0 and all(r["ort_ms"] and r["ort_ms"] > 0 for r in layer_rows)
    assert not [k for k in res["ort"]["unmatched"] if "Conv" in k], res["ort"]["unmatched"]


def test_onnx_node_owners(tmp_path):
    import onnx

    path = save_onnx(get_model("sepnet-bq", seed=0, **SMALL), str(tmp_path / "bq.onnx"))
    model = onnx.load(path)
    owners = node_owners(model)
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    assert all(owners[c] == c for c in convs)
    assert owners["conv1.bn"] == "conv1" and owners["conv1.relu"] == "conv1"
    assert "pool2" not in owners


def test_profile_cli_json_png(artifact, tmp_path, capsys):
    from tvm_sepnet.cli import main

    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(2).standard_normal((1, 3, 48, 48)).astype("float32"))
    png = tmp_path / "p.png"
    capsys.readouterr()
    peaks = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "docs", "profile",
                         "quiet-peaks-1thread.json")
    assert main(["profile", artifact, "--input", str(x), "--png", str(png), "--repeat", "2", "--threads", "1", "--no-ort",
                 "--peaks", peaks,
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert res["device"] == "host" and res["png"] == str(png) and res["peaks"]["vnni_mac"] == 2.34e11
    assert [r["name"] for r in res["rows"]][:2] == ["conv1", "conv2"] and all(r["ms"] > 0 for r in res["rows"])

@pytest.mark.parametrize("args, message", [(["--device", "nohostport"], "HOST:PORT"),
                                           (["--device", "127.0.0.1:9", "--no-ort"], "ARM target"),  # no kernels.json
                                           (["--tracker", "127.0.0.1:9"], "--tracker needs --key"),
                                           (["--device", "127.0.0.1:9", "--clock", "thread"], "needs a host profile"),
                                           (["--peaks", "/nonexistent.json"], "cannot read it as JSON")])
def test_profile_cli_errors_exit_2(artifact, capsys, args, message):
    from tvm_sepnet.cli import main

    assert main(["profile", artifact, *args]) == 2
    assert message in capsys.readouterr().err


def test_onnxruntime_nchwc_nodes_are_charged_to_their_layer(tmp_path):
    """onnxruntime rewrites Conv + Clip to an NCHWc conv named after its output tensor
    ("<tensor>_nchwc"); its time belongs to the conv's layer, not to "other"."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tvm_sepnet.bench.ort_layers import ort_layer_times
    from tvm_sepnet.frontend.onnx_names import layer_names

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((32, 16, 3, 3)).astype(np.float32), "stem.conv.weight")
    lo, hi = numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "stem.conv.weight"], ["/stem/conv/Conv_output_0"], name="/stem/conv/Conv",
                          pads=[1, 1, 1, 1]),
         helper.make_node("Clip", ["/stem/conv/Conv_output_0", "lo", "hi"], ["/stem/act/Clip_output_0"], name="/stem/act/Clip"),
         helper.make_node("Relu", ["/stem/act/Clip_output_0"], ["y"], name="/head/Relu")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 28, 28])], [w, lo, hi])
    path = str(tmp_path / "m.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    times = ort_layer_times(path, {"x": rng.standard_normal((1, 16, 28, 28)).astype(np.float32)}, repeat=3)
    (layer,) = layer_names(onnx.load(path))  # the conv's layer name, as the importer gives it
    assert list(times["layers"]) == [layer] and times["layers"][layer] > 0
    assert not any("Conv" in k for k in times["other"])
