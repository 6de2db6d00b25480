"""The model zoo: sizes at 224/1000, Relax (compiled with TVM) vs onnxruntime, weights files, errors."""
import hashlib

import numpy as np
import pytest

from tvm_sepnet.models import Net, UnknownModelError, default_config, get_model, list_models, save_onnx, to_onnx, to_relax
from tvm_sepnet.models.graph import NetBuilder
from tvm_sepnet.models.mobilenet import mobilenet_v1
from tvm_sepnet.models.sepnet import sepnet
from tvm_sepnet.models.squeezenet import squeezenet1_1
from tvm_sepnet.models.weights import load_npz, run_numpy, save_npz

ZOO = ["sepnet-r", "sepnet-b", "sepnet-bq", "squeezenet1.1", "mobilenet-0.5"]
BINARY_ZOO = ["quicknet", "birealnet"]  # sign layers: no ONNX export (tests/models/test_binary_zoo.py)


# ---------------------------------------------------------------------------------------------- sizes


def test_sepnet_size_matches_paper():
    net = sepnet(seed=None)  # counts come from the shapes: no weights drawn at 224
    total, kxk = net.num_params(), net.conv_params(2)
    assert 1.2e6 <= total <= 1.35e6, total
    assert 0.17 <= kxk / total <= 0.24, kxk / total
    assert 0.3e9 <= net.macs() <= 0.45e9, net.macs()
    assert net.param_bytes() == 4 * total and net.param_bytes(1) == -(-total // 8)
    assert net.output_shape == (1, 1000)
    assert net.nodes[-1].op == "flatten" and net.nodes[-2].op == "global_avg_pool2d"


def test_sepnet_structure():
    net = sepnet(image_size=96, num_classes=10, seed=None)
    shapes = net.shapes()
    convs = [n for n in net.nodes if n.op == "conv2d"]
    first, classifier = convs[0], convs[-1]
    assert first.attrs["kernel"] == (3, 3) and first.attrs["strides"] == (2, 2) and first.attrs["groups"] == 1
    assert first.attrs["channels"] == 32
    assert classifier.attrs["kernel"] == (1, 1) and classifier.attrs["groups"] == 1 and classifier.attrs["bias"]
    for conv in convs[1:-1]:
        assert conv.attrs["groups"] == 4, conv.name
        assert (shapes[conv.inputs[0]][1] // 4) % 8 == 0, conv.name
    for conv in convs[1:]:
        assert (shapes[conv.inputs[0]][1] // conv.attrs["groups"]) % 8 == 0, conv.name
    # a pattern residual block: k×k and 1×1 convs on the same input, BN each, added, ReLU
    by_name = {n.name: n for n in net.nodes}
    kxk, pw = by_name["sep2_1.prb1.kxk"], by_name["sep2_1.prb1.pw"]
    assert kxk.inputs == pw.inputs and kxk.attrs["kernel"] == (3, 3) and pw.attrs["kernel"] == (1, 1)
    assert by_name["sep2_1.prb1.add"].inputs == ["sep2_1.prb1.kxk.bn", "sep2_1.prb1.pw.bn"]
    # a SEP module: identity skip from the module input
    assert by_name["sep2_1.add"].inputs[1] == by_name["sep2_1.reduce"].inputs[0]
    assert not any(n.op == "softmax" for n in net.nodes)
    assert net.output_shape == (1, 10)


def test_comparison_networks_size():
    squeeze = squeezenet1_1(seed=None)
    assert abs(squeeze.num_params() / 1.235e6 - 1) < 0.02, squeeze.num_params()
    assert squeeze.num_params() == 1_235_496  # torchvision's count
    assert squeeze.shapes()["classifier"] == (1, 1000, 13, 13)
    mobile = mobilenet_v1(seed=None)
    assert abs(mobile.num_params() / 1.33e6 - 1) < 0.02, mobile.num_params()
    depthwise = [n for n in mobile.nodes if n.op == "conv2d" and n.attrs["groups"] > 1]
    assert len(depthwise) == 13 and all(n.attrs["groups"] == n.attrs["channels"] for n in depthwise)


def test_summary_lists_every_layer():
    net = get_model("sepnet-r", image_size=64)
    text = net.summary()
    lines = text.splitlines()
    assert len(lines) == len(net.nodes) + 2
    for node, line in zip(net.nodes, lines[1:]):
        assert line.split()[:2] == [node.name, node.op]
    assert "sep2_1.prb1.kxk" in text and "3x3" in text and "total params" in lines[-1]


# -------------------------------------------------------------------------------- numerics: TVM vs ORT

_BUILDS = {}


def _fingerprint(net: Net) -> str:
    h = hashlib.sha256(repr([(n.op, n.name, n.inputs, sorted(n.attrs.items())) for n in net.nodes]).encode())
    h.update(repr(net.input_shape).encode())
    for k, v in net.params.items():
        h.update(k.encode() + v.tobytes())
    return h.hexdigest()


def _tvm_run(mod, *args):
    """Compile ``mod`` with the default pipeline for a 2-core llvm target and run ``main``. Builds are
    cached by the module's content (structural hash, confirmed by structural equality): the three
    SEP-Net variants are one float network and compile once."""
    import tvm
    import tvm_ffi
    from tvm import relax

    entries = _BUILDS.setdefault(tvm_ffi.structural_hash(mod), [])
    ex = next((ex for built, ex in entries if tvm_ffi.structural_equal(built, mod)), None)
    if ex is None:
        target = tvm.target.Target({"kind": "llvm", "num-cores": 2})
        ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
        entries.append((mod, ex))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](*[tvm.runtime.tensor(a) for a in args]).numpy()


def _ort_run(net: Net, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(to_onnx(net).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {net.input_name: x})[0]


def _assert_close(y, ref):
    assert y.shape == ref.shape
    assert np.all(np.isfinite(y)) and np.abs(y).max() > 0 and y.std() > 1e-3
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("name", ZOO)
def test_relax_matches_onnxruntime(name):
    net = get_model(name, image_size=64)
    x = np.random.default_rng(7).standard_normal(net.input_shape).astype(np.float32)
    y = _tvm_run(to_relax(net), x)  # the three SEP-Net variants are one float network: compiled once
    ref = _ort_run(net, x)
    _assert_close(y, ref)
    _assert_close(run_numpy(net, x), ref)  # the numpy executor the initialiser calibrates with


def test_sepnet_variants_share_the_float_network():
    nets = [get_model(n, image_size=64) for n in ("sepnet-r", "sepnet-b", "sepnet-bq")]
    assert len({_fingerprint(n) for n in nets}) == 1
    assert [n.name for n in nets] == ["sepnet-r", "sepnet-b", "sepnet-bq"]


def _tiny_net(seed=3) -> Net:
    """Every op of the graph format: odd sizes, ceil-mode pooling, avg pool, concat, dense, softmax."""
    b = NetBuilder("tiny", (2, 3, 19, 17))
    x = b.conv("c1", b.input, 16, 3, stride=2, padding=(1, 0, 0, 1), bias=True)
    x = b.relu(b.bn("c1.bn", x))
    x = b.max_pool("p1", x, 3, 2, ceil_mode=True)
    y = b.conv("c2", x, 16, (3, 1), padding=(1, 0), groups=2)
    z = b.conv("c3", x, 8, 1, groups=4, bias=True)
    x = b.concat("cat", [y, z])
    x = b.add("sum", x, b.conv("c4", x, 24, 1, groups=8))
    x = b.avg_pool("p2", x, 3, 2, padding=1)
    x = b.flatten("flat", x)
    x = b.dense("fc", x, 10)
    b.softmax("prob", x)
    return b.build(seed)


def test_tiny_net_every_op():
    net = _tiny_net()
    assert net.shapes()["p1"] == (2, 16, 4, 4)  # ceil mode: floor would give 4x3
    x = np.random.default_rng(0).standard_normal(net.input_shape).astype(np.float32)
    ref = _ort_run(net, x)
    _assert_close(_tvm_run(to_relax(net), x), ref)
    _assert_close(run_numpy(net, x), ref)
    np.testing.assert_allclose(ref.sum(axis=1), 1.0, rtol=1e-5)


def test_unbound_params():
    net = _tiny_net()
    x = np.random.default_rng(1).standard_normal(net.input_shape).astype(np.float32)
    mod, params = to_relax(net, bind_params=False)
    assert list(params) == list(net.params)
    assert len(mod["main"].params) == 1 + len(params) and int(mod["main"].attrs["num_input"]) == 1
    _assert_close(_tvm_run(mod, x, *params.values()), _ort_run(net, x))


def test_layer_names_survive():
    from tvm import relax

    net = get_model("sepnet-r", image_size=32, num_classes=10)
    mod = to_relax(net)
    bound = {b.var.name: b.value for blk in mod["main"].body.blocks for b in blk.bindings}
    assert isinstance(bound["sep2_1_prb1_kxk"], relax.Call) and bound["sep2_1_prb1_kxk"].op.name == "relax.nn.conv2d"
    assert bound["conv1_bn_tuple"].op.name == "relax.nn.batch_norm"
    assert isinstance(bound["conv1_bn"], relax.TupleGetItem)
    assert not bool(bound["conv1_bn_tuple"].attrs.training)
    convs = sum(1 for v in bound.values() if isinstance(v, relax.Call) and v.op.name == "relax.nn.conv2d")
    assert convs == sum(1 for n in net.nodes if n.op == "conv2d")
    model = to_onnx(net)
    assert [n.name for n in model.graph.node] == [n.name for n in net.nodes]
    assert {i.name for i in model.graph.initializer} == set(net.params)


def test_save_onnx(tmp_path):
    import onnx

    net = get_model("mobilenet-0.5", image_size=32, num_classes=5)
    path = save_onnx(net, str(tmp_path / "m.onnx"))
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 32, 32]
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 5]


# --------------------------------------------------------------------------------------------- weights


def test_deterministic_weights():
    a, b = get_model("sepnet-r", seed=5, image_size=64), get_model("sepnet-r", seed=5, image_size=64)
    assert list(a.params) == list(b.params)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    c = get_model("sepnet-r", seed=6, image_size=64)
    assert not np.array_equal(a.params["conv1.weight"], c.params["conv1.weight"])
    assert all(v.dtype == np.float32 for v in a.params.values())
    assert {k: v.shape for k, v in a.params.items()} == a.param_shapes()
    assert a.num_params() == sum(v.size for v in a.params.values())
    assert all(np.all(a.params[k] > 0) for k in a.params if k.endswith(".var"))


def test_npz_round_trip(tmp_path):
    net = get_model("squeezenet1.1", seed=1, image_size=64)
    path = save_npz(net, str(tmp_path / "w.npz"))
    other = get_model("squeezenet1.1", seed=2, image_size=64, weights=path)
    assert all(np.array_equal(net.params[k], other.params[k]) for k in net.params)
    again = load_npz(get_model("squeezenet1.1", seed=3, image_size=64), path)
    assert _fingerprint(again) == _fingerprint(net)


def _write(tmp_path, params):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **params)
    return path


def test_npz_errors(tmp_path):
    net = get_model("mobilenet-0.5", image_size=32)
    good = dict(net.params)

    missing = {k: v for k, v in good.items() if k != "block3.pw.weight"}
    with pytest.raises(ValueError, match=r"missing key 'block3\.pw\.weight'.*expected shape \(64, 64, 1, 1\)"):
        load_npz(net, _write(tmp_path, missing))

    wrong = dict(good, **{"conv1.weight": np.zeros((16, 3, 5, 5), np.float32)})
    with pytest.raises(ValueError, match=r"'conv1\.weight'.*expected \(16, 3, 3, 3\), found \(16, 3, 5, 5\)"):
        load_npz(net, _write(tmp_path, wrong))

    unknown = dict(good, **{"extra.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"unknown key 'extra\.weight'.*found shape \(2, 2\)"):
        load_npz(net, _write(tmp_path, unknown))

    with pytest.raises(ValueError, match="missing key"):
        get_model("mobilenet-0.5", image_size=32, weights=_write(tmp_path, missing))
    assert all(np.array_equal(net.params[k], good[k]) for k in good)  # failed loads change nothing


# ------------------------------------------------------------------------------------------------ zoo


def test_list_and_configs():
    assert list_models() == ZOO + BINARY_ZOO
    assert default_config("sepnet-r") == {"kxk": "float", "pointwise": "float", "act_bits": None}
    assert default_config("sepnet-b") == {"kxk": "binary", "pointwise": "float", "act_bits": None}
    assert default_config("sepnet-bq") == {"kxk": "binary", "pointwise": "int8", "act_bits": 4}
    for name in ("squeezenet1.1", "mobilenet-0.5"):
        assert default_config(name) == {"kxk": "float", "pointwise": "float", "act_bits": None}
    default_config("sepnet-bq")["act_bits"] = 8  # a copy: the zoo's table is not modified
    assert default_config("sepnet-bq")["act_bits"] == 4


def test_unknown_model():
    for call in (lambda: get_model("resnet50"), lambda: default_config("resnet50")):
        with pytest.raises(UnknownModelError) as err:
            call()
        assert isinstance(err.value, ValueError)
        assert "resnet50" in str(err.value)
        assert all(name in str(err.value) for name in ZOO + BINARY_ZOO)


def test_options():
    net = get_model("sepnet-bq", image_size=96, num_classes=7, batch=2)
    assert net.input_shape == (2, 3, 96, 96) and net.output_shape == (2, 7) and net.input_name == "input"
    assert net.params["classifier.weight"].shape == (7, 640, 1, 1)
