"""End to end on x86 for an ONNX model that tvm-sepnet did not write (onnx.helper): numerics against
onnxruntime and the reference executor, and every kind of bad input."""
import numpy as np
import onnx
import pytest
from onnx import helper

import tvm_sepnet
from tests.onnx_models import binarize_kxk_in_onnx, foreign_model, run_onnxruntime
from tvm_sepnet.errors import InputMismatchError, InvalidModelError, InvalidWeightsError, SepnetError, UnsupportedOpError
from tvm_sepnet.frontend import load_onnx
from tvm_sepnet.targets import UnknownTargetError


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "foreign.onnx"
    onnx.save(foreign_model(), str(path))
    return str(path)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype("float32")


def _build(path, **options):
    model = load_onnx(path)
    return tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, **options)


def test_float_build_matches_onnxruntime(onnx_path, image):
    art = _build(onnx_path, kxk="float", pointwise="float", act_bits=None)
    kinds = {r["kind"] for r in art.layers}
    assert kinds <= {"float_conv", "other"}
    got = art.run(image)[0]
    want = run_onnxruntime(onnx.load(onnx_path), image)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_binary_weights_float_activations_match_onnxruntime_on_alpha_sign(onnx_path, image):
    """The paper's numerics: k×k weights α·sign(W), activations float, 1×1 float."""
    art = _build(onnx_path, kxk="binary", pointwise="float", act_bits=None)
    by_name = {r["name"]: r for r in art.layers}
    assert by_name["stem"]["kind"] == "float_conv"
    assert by_name["b1_5x5"]["kind"] == "binary_weight_conv"
    assert by_name["b2_3x3"]["kind"] == "binary_weight_conv"
    got = art.run(image)[0]
    want = run_onnxruntime(binarize_kxk_in_onnx(onnx.load(onnx_path)), image)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert art.check(image)["match"]


def test_all_zero_kxk_filter(tmp_path, image):
    path = tmp_path / "zero.onnx"
    onnx.save(foreign_model(zero_filter=True), str(path))
    art = _build(str(path), act_bits=4)
    node = next(n for n in art.graph["nodes"] if n["op"] == "sepnet.conv2d" and n["attrs"]["name"] == "b2_3x3")
    alpha = art.consts[node["args"][2]["const"]]
    assert alpha[1] == 0 and np.all(alpha[np.arange(len(alpha)) != 1] > 0)
    res = art.check(image)
    assert res["match"] and all(np.all(np.isfinite(o)) for o in res["outputs"])
    # float-activation mode too: the zero filter's output channel is its bias alone
    art2 = _build(str(path), pointwise="float", act_bits=None)
    want = run_onnxruntime(binarize_kxk_in_onnx(onnx.load(str(path))), image)
    np.testing.assert_allclose(art2.run(image)[0], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_nan_weights_name_the_layer(tmp_path):
    path = tmp_path / "nan.onnx"
    onnx.save(foreign_model(nan_in="b1_5x5"), str(path))
    with pytest.raises(InvalidWeightsError, match="b1_5x5.*NaN"):
        _build(str(path))


def test_unsupported_op_names_type_and_node(tmp_path):
    path = tmp_path / "lrn.onnx"
    extra = lambda x: helper.make_node("LRN", [x], ["lrn_out"], name="my_lrn", size=3)
    onnx.save(foreign_model(extra_node=extra), str(path))
    with pytest.raises(UnsupportedOpError, match="my_lrn.*LRN"):
        load_onnx(str(path))


def test_malformed_and_truncated_files(tmp_path, onnx_path):
    data = open(onnx_path, "rb").read()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidModelError, match="cut.onnx"):
        load_onnx(str(truncated))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01not an onnx file at all" * 10)
    with pytest.raises(InvalidModelError):
        load_onnx(str(garbage))
    with pytest.raises(InvalidModelError, match="does not exist"):
        load_onnx(str(tmp_path / "missing.onnx"))


def _save_graph(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_files_the_frontend_refuses(tmp_path):
    """A graph without nodes, one that fails the ONNX checker, one whose ops are supported but that the
    Relax frontend cannot convert (a grouped Conv whose channels do not divide): each a clear error."""
    from onnx import TensorProto, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    empty = _save_graph(tmp_path / "empty.onnx", [], [x], [helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1])])
    with pytest.raises(InvalidModelError, match="empty.onnx.*no graph nodes"):
        load_onnx(empty)
    dangling = _save_graph(tmp_path / "dangling.onnx", [helper.make_node("Relu", ["nowhere"], ["y"])], [x], [y])
    with pytest.raises(InvalidModelError, match="dangling.onnx' fails the ONNX checker:.*'nowhere'"):
        load_onnx(dangling)
    w = numpy_helper.from_array(np.ones((2, 4, 3, 3), np.float32), "w")
    groups = _save_graph(tmp_path / "groups.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], group=3)], [x], [y], [w])
    with pytest.raises(InvalidModelError, match="groups.onnx': the Relax ONNX frontend could not convert the model"):
        load_onnx(groups)


def test_wrong_runtime_input(onnx_path, image):
    art = _build(onnx_path, act_bits=2)
    with pytest.raises(InputMismatchError, match=r"expected shape \(1, 3, 32, 32\) dtype float32"):
        art.run(np.zeros((1, 3, 16, 16), "float32"))
    with pytest.raises(InputMismatchError, match="dtype float32"):
        art.run(image.astype("float64"))
    with pytest.raises(InputMismatchError, match="missing input 'image'"):
        art.run({"x": image})


def test_unknown_target():
    with pytest.raises(UnknownTargetError, match="known targets: .*x86"):
        tvm_sepnet.get_target("riscv-imaginary")


def test_calibration_file_errors(tmp_path, onnx_path, image):
    model = load_onnx(onnx_path)
    wrong_name = tmp_path / "wrong_name.npz"
    np.savez(wrong_name, data=image)
    with pytest.raises(InputMismatchError, match="do not match the model's inputs"):
        tvm_sepnet.quantize_model(model.mod, calib=str(wrong_name))
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, image=np.zeros((2, 3, 16, 16), "float32"))
    with pytest.raises(InputMismatchError, match=r"\(2, 3, 16, 16\)"):
        tvm_sepnet.quantize_model(model.mod, calib=str(wrong_shape))
    good = tmp_path / "good.npz"
    np.savez(good, image=np.stack([image, image * 0.5]))
    from tests.conftest import conv_layers

    from_file = {c.attrs.name: c.attrs.act for c in conv_layers(tvm_sepnet.quantize_model(
        model.mod, calib=str(good), layer_names=model.layer_names))}
    synthetic = {c.attrs.name: c.attrs.act for c in conv_layers(tvm_sepnet.quantize_model(
        model.mod, layer_names=model.layer_names))}
    assert from_file["b2_3x3"]["kind"] == "uint" and from_file["b2_3x3"]["scale"] > 0
    assert from_file["b2_3x3"]["scale"] != synthetic["b2_3x3"]["scale"]  # the file's data set the range


@pytest.fixture(scope="module")
def preset_builds(onnx_path):
    """The model built for the x86-avx2 and x86-avx512 presets (compiling needs no such host)."""
    model = load_onnx(onnx_path)
    builds = {name: tvm_sepnet.build(model.mod, name, act_bits=2, layer_names=model.layer_names)
              for name in ("x86-avx2", "x86-avx512")}
    builds["bitserial"] = tvm_sepnet.build(model.mod, "x86-avx512", act_bits=2, layer_names=model.layer_names,
                                           kernel_choice="bitserial")
    return builds


@pytest.mark.parametrize("name", ["x86-avx2", "x86-avx512"])
def test_presets_generate_their_instruction_sets(preset_builds, name):
    asm = preset_builds[name].assembly()
    # A=2: every k×k layer on the dot kernel (u8 x ±1) by the cost model, as the 1x1 layers
    if name == "x86-avx512":
        assert "zmm" in asm and "vpdpbusd" in asm  # AVX-512 VNNI dot products were generated
    else:
        assert "ymm" in asm and "zmm" not in asm and "vpmaddubsw" in asm


def test_avx512_bitserial_kernels_use_vpopcnt(preset_builds):
    asm = preset_builds["bitserial"].assembly()
    assert "zmm" in asm and "vpopcnt" in asm  # AVX-512 VPOPCNTDQ code for the bitserial k×k kernels


AVX2_HOST = frozenset({"fpu", "sse2", "sse4_2", "avx", "avx2", "fma", "popcnt"})


@pytest.mark.parametrize("name,flags,missing", [
    ("x86-avx512", AVX2_HOST, "avx512f, avx512bw, avx512_vpopcntdq, avx512_vnni"),
    ("x86-avx2", frozenset({"fpu", "sse2", "popcnt"}), "avx2, fma"),
])
def test_artifact_refuses_a_host_without_its_cpu_features(preset_builds, image, monkeypatch, name, flags, missing):
    """The host-feature function is injected, so the refusal runs on every host (it happens before any
    kernel runs: nothing executes an instruction the real host may lack)."""
    import tvm_sepnet.targets as targets

    monkeypatch.setattr(targets, "host_cpu_flags", lambda: flags)
    assert targets.missing_host_flags(targets.get_target(name)) == missing.split(", ")
    with pytest.raises(SepnetError, match=f"built for target '{name}', which needs CPU features this host lacks "
                                          rf"\({missing}\); compile it with --target x86"):
        preset_builds[name].run(image)
    monkeypatch.setattr(targets, "host_cpu_flags", lambda: frozenset())  # flags unknown: no refusal
    assert targets.why_not_runnable_here(targets.get_target(name)) is None


def test_avx512_build_matches_the_reference_on_an_avx512_host(preset_builds, image):
    """Runs the AVX-512 code, so it needs a host that has those instructions (skipped, naming them, elsewhere)."""
    from tvm_sepnet.targets import host_cpu_flags, missing_host_flags

    missing = missing_host_flags(tvm_sepnet.get_target("x86-avx512"))
    if missing or not host_cpu_flags():
        pytest.skip(f"this host lacks {', '.join(missing) or 'a readable /proc/cpuinfo'}: AVX-512 code cannot run here")
    res = preset_builds["x86-avx512"].check(image)
    assert res["match"], res["max_rel_err"]
