"""The oracles fed wrong results: one corrupted weight, weight scale or bias (the epilogue offset is
bias / scale) in an artifact's graph constants, in memory and in an exported graph.npz. The compiled
library keeps its own constants, so the reference executor (and the twin) now compute another model:
``check`` must report ``match: false``, ``check_layers`` and the twin must name the corrupted layer
first, ``tvm-sepnet run --check``, ``run --twin`` and ``deploy --check`` (a real TVM RPC server on
127.0.0.1) exit 1.
The unchanged artifact passes each of them (exit 0)."""
import json
import shutil

import numpy as np
import onnx
import pytest

import tvm_sepnet
from tests.onnx_models import foreign_model
from tests.rpc_cluster import RPCCluster
from tvm_sepnet.artifact import GRAPH_NPZ, META_JSON, Artifact
from tvm_sepnet.artifact_files import sha256_file
from tvm_sepnet.cli import main
from tvm_sepnet.frontend import load_onnx
from tvm_sepnet.verify import check_artifact

X = np.random.default_rng(11).standard_normal((1, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The foreign model, 4-bit activations, layer probes: in memory and exported, with an input file."""
    root = tmp_path_factory.mktemp("mut")
    onnx.save(foreign_model(), str(root / "m.onnx"))
    model = load_onnx(str(root / "m.onnx"))
    art = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, act_bits=4, probe_layers=True)
    np.save(root / "x.npy", X)
    return art, art.export(str(root / "art")), str(root / "x.npy")


def _layer(art, name):
    node = next(n for n in art.graph["nodes"] if n["op"] == "sepnet.conv2d" and n["attrs"]["name"] == name)
    return node, [a["const"] for a in node["args"][1:4]]  # w, w_scale, bias


def _busiest_channel(art, node) -> int:
    """The output channel of a layer with the largest output (its outputs are visible, not clipped by ReLU)."""
    (out,) = art.reference().run({"image": X}, keep=[node["name"]])[1:]
    return int(np.argmax(out.reshape(out.shape[1], -1).max(axis=1)))


def corrupt(art, what: str) -> tuple[dict, str]:
    """(constants with one value changed, the layer it belongs to)."""
    consts = {k: v.copy() for k, v in art.consts.items()}
    if what == "weight":  # one sign bit of the binary 3×3 layer: the center tap of the busiest input channel
        node, (w, _, _) = _layer(art, "b2_3x3")
        o = _busiest_channel(art, node)
        group = o // (node["attrs"]["channels"] // node["attrs"]["groups"])
        cg = node["attrs"]["in_channels"] // node["attrs"]["groups"]
        (x_in,) = art.reference().run({"image": X}, keep=[node["args"][0]["var"]])[1:]
        c = int(np.argmax(x_in[0, group * cg:(group + 1) * cg].sum(axis=(1, 2))))
        consts[w][o, c // 8, 1, 1] ^= np.uint8(1 << (c % 8))
        return consts, "b2_3x3"
    if what == "scale":  # the int8 step of one output channel of a layer without ReLU
        node, (_, ws, _) = _layer(art, "b2_1x1")
        consts[ws][_busiest_channel(art, node)] *= np.float32(1.5)
        return consts, "b2_1x1"
    node, (_, _, bias) = _layer(art, "b1_1x1")  # the bias, hence the epilogue offset bias / scale
    consts[bias][_busiest_channel(art, node)] += np.float32(0.5)
    return consts, "b1_1x1"


KINDS = ["weight", "scale", "bias"]


def _assert_oracles_name(art, layer):
    res = art.check(X)
    assert not res["match"] and res["max_rel_err"] > 1e-3
    rows = art.check_layers(X)
    first = next(i for i, r in enumerate(rows) if not r["bit_exact"])
    assert rows[first]["name"] == layer and all(r["bit_exact"] for r in rows[:first])
    twin = check_artifact(art, X)
    assert not twin["match"] and next(r["name"] for r in twin["layers"] if not r["match"]) == layer


@pytest.mark.parametrize("what", KINDS)
def test_corrupted_constants_in_memory(built, what):
    art, _, _ = built
    assert art.check(X)["match"] and all(r["bit_exact"] for r in art.check_layers(X)) and check_artifact(art, X)["match"]
    consts, layer = corrupt(art, what)
    _assert_oracles_name(Artifact(art.lib, art.graph, consts, art.meta), layer)


def _corrupted_copy(built, what, dest) -> tuple[str, str]:
    art, path, _ = built
    shutil.copytree(path, dest)
    consts, layer = corrupt(art, what)
    np.savez(f"{dest}/{GRAPH_NPZ}", **consts)
    # list the changed file's checksum in meta.json: the oracles are under test here, not the checksums (which
    # reject an altered file before any oracle runs: tests/test_artifact_integrity.py)
    meta = json.load(open(f"{dest}/{META_JSON}", encoding="utf-8"))
    meta["files"][GRAPH_NPZ] = sha256_file(f"{dest}/{GRAPH_NPZ}")
    json.dump(meta, open(f"{dest}/{META_JSON}", "w", encoding="utf-8"))
    return str(dest), layer


def _run(path, x_path, capsys, flag) -> tuple[int, dict]:
    code = main(["run", path, "--input", x_path, flag, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("what", KINDS)
def test_corrupted_graph_npz_on_disk(built, what, tmp_path, capsys):
    _, path, x_path = built
    assert _run(path, x_path, capsys, "--check")[0] == 0 and _run(path, x_path, capsys, "--twin")[0] == 0
    bad, layer = _corrupted_copy(built, what, tmp_path / "bad")
    _assert_oracles_name(tvm_sepnet.load(bad), layer)
    code, out = _run(bad, x_path, capsys, "--check")
    assert code == 1 and out["match"] is False
    code, out = _run(bad, x_path, capsys, "--twin")
    assert code == 1 and out["twin"]["match"] is False and out["twin"]["mismatched_layers"][0] == layer


@pytest.mark.slow
def test_deploy_check_exits_1_on_a_corrupted_graph(built, tmp_path, capsys):
    """x86 artifacts on a real TVM RPC server (127.0.0.1, through a tracker): clean 0, each corruption 1."""
    _, path, x_path = built
    bad = {what: _corrupted_copy(built, what, tmp_path / what)[0] for what in KINDS}
    with RPCCluster(servers=1, key="x86-check") as cluster:
        def deploy(p):
            code = main(["deploy", p, "--tracker", cluster.tracker, "--key", "x86-check", "--input", x_path, "--check",
                         "--repeat", "1", "--json"])
            return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

        code, out = deploy(path)
        assert code == 0 and out["check"]["match"] and out["device"].startswith("x86-check@"), out
        for what, p in bad.items():
            code, out = deploy(p)
            assert code == 1 and out["check"]["match"] is False, what
