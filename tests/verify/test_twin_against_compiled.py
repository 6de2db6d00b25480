"""Every integer configuration of the compiled pipeline against onnxruntime on the ONNX twin
(tvm_sepnet.verify): A in {1, 2, 4, 8}, int8 pointwise, fused residuals (and one unfused build), the
bitserial and the int8 kernel for binary layers, on the foreign ONNX model (there against the reference
executor too) and on sepnet-bq. Each conv layer and each output within its per-element bound
(docs/checks.md). And two compiler bugs that the reference executor shares, hence cannot see, and the
twin does see."""
import sys

import numpy as np
import onnx
import pytest

import relay_passes.quantize_activations as quantize_activations
import schedules.common
import tvm_sepnet
from tests.onnx_models import foreign_model
from tvm_sepnet.errors import SepnetError
from tvm_sepnet.frontend import load_onnx, load_zoo
from tvm_sepnet.verify import check_artifact, check_with_twin, load_graph

CONFIGS = [(bits, kernel) for bits in (1, 2, 4, 8) for kernel in ("bitserial", "int8")]


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "foreign.onnx"
    onnx.save(foreign_model(), str(path))
    return load_onnx(str(path))


X32 = np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)


def _build_foreign(foreign, **options):
    return tvm_sepnet.build(foreign.mod, "x86", layer_names=foreign.layer_names, probe_layers=True, **options)


def _assert_within_bounds(art, x, kernel):
    kernels = {r["kernel"].split("/")[0] for r in art.layers if r["kind"] == "binary_conv"}
    if kernel == "bitserial":
        assert kernels == {"binary"}, kernels
    else:  # u8 x ±1 products: the dot kernel of the integer dataflow, or the direct int8 kernel
        assert kernels and all(k == "int8(±1)" or k.startswith("dot:") for k in kernels), kernels
    res = check_artifact(art, x)
    bad = [r for r in res["layers"] + res["outputs"] if not r["match"]]
    assert res["match"], bad
    assert all(r["worst_ratio"] <= 1 for r in res["layers"])
    return res


@pytest.mark.parametrize("bits,kernel", CONFIGS)
def test_foreign_model_matches_its_twin_and_the_reference(foreign, bits, kernel):
    """Both oracles on one build: the twin within its bounds, the reference executor bit for bit per
    layer (integer layers) and within 1e-5 at the output (the float head)."""
    art = _build_foreign(foreign, act_bits=bits, kernel_choice=kernel)
    kinds = {r["name"]: r["kind"] for r in art.layers}
    assert kinds["b2_3x3"] == "binary_conv" and kinds["b2_1x1"] == "int8_conv" and kinds["stem"] == "float_conv"
    res = _assert_within_bounds(art, X32, kernel)
    assert [r["name"] for r in res["layers"]] == ["stem", "b1_5x5", "b1_1x1", "b2_3x3", "b2_1x1", "b2_skip", "b3_3x3s2"]
    ref = art.check(X32)
    assert ref["match"] and ref["max_rel_err"] <= 1e-5, ref["max_rel_err"]
    rows = art.check_layers(X32)
    assert all(r["bit_exact"] for r in rows), [r for r in rows if not r["bit_exact"]]


def test_an_all_zero_filter_matches_its_twin(tmp_path):
    """alpha = 0 (scale 0 in the epilogue: the output channel is the bias alone) in the twin too."""
    onnx.save(foreign_model(zero_filter=True), str(tmp_path / "zero.onnx"))
    art = _build_foreign(load_onnx(str(tmp_path / "zero.onnx")), act_bits=4, kernel_choice="bitserial")
    node = next(n for n in art.graph["nodes"] if n["op"] == "sepnet.conv2d" and n["attrs"]["name"] == "b2_3x3")
    assert art.consts[node["args"][2]["const"]][1] == 0
    res = _assert_within_bounds(art, X32, "bitserial")
    assert res["layers"][3]["name"] == "b2_3x3" and res["layers"][3]["max_abs_err"] < 1e-4


@pytest.fixture(scope="module")
def sepnet32():
    return load_zoo("sepnet-bq", image_size=32, num_classes=10)


@pytest.mark.slow
@pytest.mark.parametrize("bits,kernel", CONFIGS)
def test_sepnet_bq_matches_its_twin(sepnet32, bits, kernel):
    art = tvm_sepnet.build(sepnet32.mod, "x86", probe_layers=True, **{**sepnet32.config, "act_bits": bits},
                           kernel_choice=kernel)
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    res = _assert_within_bounds(art, {"input": x}, kernel)
    assert len(res["layers"]) == 60
    assert sum(r["flip_candidates"] or 0 for r in res["layers"]) < 100  # rounding boundaries are rare


@pytest.mark.slow
def test_unfused_sepnet_bq_matches_its_twin_from_disk(sepnet32, tmp_path):
    """Residual adds as graph ops (fuse_epilogues=False), the twin built from the exported files."""
    art = tvm_sepnet.build(sepnet32.mod, "x86", probe_layers=True, fuse_epilogues=False, **sepnet32.config)
    path = art.export(str(tmp_path / "m"))
    graph, consts = load_graph(f"{path}/graph.json", f"{path}/graph.npz")
    assert sum(n["op"] == "add" for n in graph["nodes"]) == 27
    x = {"input": np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    got = tvm_sepnet.load(path).run(x)
    probes = {p["node"]: g for p, g in zip(art.meta["probes"], got[1:])}
    res = check_with_twin(graph, consts, x, got[:1], probes)
    assert res["match"], [r for r in res["layers"] + res["outputs"] if not r["match"]]


def test_an_artifact_without_probes_is_refused(foreign):
    art = tvm_sepnet.build(foreign.mod, "x86", layer_names=foreign.layer_names, act_bits=4)
    with pytest.raises(SepnetError, match="probe_layers=True"):
        check_artifact(art, X32)


def _patch_everywhere(monkeypatch, module, name, wrap):
    """Replace ``module.name`` by ``wrap(original)`` in every module that imported it (the kernels'
    lowering and the reference executor alike)."""
    original = getattr(module, name)
    replacement = wrap(original)
    for mod in list(sys.modules.values()):
        if getattr(mod, name, None) is original:
            monkeypatch.setattr(mod, name, replacement)


def _first_failing(res):
    return next(r["name"] for r in res["layers"] if not r["match"])


def _without_bias(epilogue_params):
    def patched(act_scale, weight_scale, bias):
        scale, offset = epilogue_params(act_scale, weight_scale, bias)
        return scale, np.where(scale != 0, np.float32(0), offset).astype(np.float32)

    return patched


def _halved_inv_scale(act_quantizer):
    def patched(*args):
        act = act_quantizer(*args)
        return {**act, "inv_scale": act["inv_scale"] / 2}

    return patched


@pytest.mark.parametrize("module,name,wrap", [(schedules.common, "epilogue_params", _without_bias),
                                              (quantize_activations, "act_quantizer", _halved_inv_scale)],
                         ids=["offset_without_bias", "halved_inv_scale"])
def test_twin_sees_a_compiler_bug_that_the_reference_shares(foreign, monkeypatch, module, name, wrap):
    """Kernels and reference executor take the epilogue offset from the same epilogue_params and the
    quantizer's inv_scale from the same act_quantizer: with either broken, Artifact.check still matches
    and every layer is bit-exact with the reference. The twin adds the graph's bias itself and divides
    by the published scale: it fails, first at the first integer layer."""
    _patch_everywhere(monkeypatch, module, name, wrap)
    art = _build_foreign(foreign, act_bits=4)
    assert art.check(X32)["match"] and all(r["bit_exact"] for r in art.check_layers(X32))
    res = check_artifact(art, X32)
    assert not res["match"] and _first_failing(res) == "b1_5x5"
