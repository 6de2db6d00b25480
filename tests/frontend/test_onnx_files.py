"""ONNX files as the torch exporters write them: external data beside the model, folded shape subgraphs,
layer names from module paths, and the errors a user gets (naming the node and the op, exit status 2)."""
import os

import numpy as np
import onnx
import pytest

from tests.frontend.onnx_op_cases import CASES, mobile_cnn, model, node
from tvm_sepnet.cli import main
from tvm_sepnet.errors import InvalidModelError, UnsupportedOpError
from tvm_sepnet.frontend import load_onnx
from tvm_sepnet.frontend.onnx_fold import fold_static_subgraphs
from tvm_sepnet.frontend.onnx_names import module_path_of_scope, module_path_of_weight


def _save_external(m, path):
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data", size_threshold=0)


def test_external_data_loads_and_a_missing_file_is_named(tmp_path):
    path = tmp_path / "m.onnx"
    _save_external(mobile_cnn(), path)
    assert os.path.exists(str(path) + ".data")
    assert load_onnx(str(path)).layer_names[0] == "stem"
    os.remove(str(path) + ".data")
    with pytest.raises(InvalidModelError, match=r"m\.onnx\.data.*missing"):
        load_onnx(str(path))


def test_truncated_external_data(tmp_path):
    path = tmp_path / "m.onnx"
    _save_external(mobile_cnn(), path)
    data = str(path) + ".data"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(InvalidModelError, match="m.onnx"):
        load_onnx(str(path))


def test_shape_subgraph_folds_to_initializers():
    folded, count = fold_static_subgraphs(CASES["channel_shuffle_shape_subgraph"], {"x": [1, 8, 6, 6]})
    assert count == 7
    assert [n.op_type for n in folded.graph.node] == ["Reshape", "Transpose", "Reshape"]


def test_shape_of_a_computed_reshape_folds_in_a_second_round():
    case = CASES["window_partition_two_rounds"]
    once, _ = fold_static_subgraphs(case, {"x": [1, 8, 6, 6]}, max_rounds=1)
    assert "Shape" in [n.op_type for n in once.graph.node]  # one round is not enough for this graph
    folded, count = fold_static_subgraphs(case, {"x": [1, 8, 6, 6]})
    assert [n.op_type for n in folded.graph.node] == ["Reshape", "Relu", "Reshape"]
    assert count == 10


def test_unsupported_op_names_node_and_op(tmp_path):
    path = tmp_path / "hardmax.onnx"
    m = model([node("Hardmax", ["x"], axis=1)], y_shape=(1, 8, 6, 6))
    onnx.save(m, str(path))
    with pytest.raises(UnsupportedOpError, match="'hardmax_y': operator 'Hardmax'"):
        load_onnx(str(path))


def test_dynamic_shape_op_left_over_is_explained(tmp_path):
    path = tmp_path / "nonzero.onnx"
    m = model([node("NonZero", ["x"], ["nz"]), node("Shape", ["nz"], ["s"]), node("Cast", ["s"], to=1)], y_shape=(2,))
    onnx.save(m, str(path))
    with pytest.raises(UnsupportedOpError, match="NonZero"):
        load_onnx(str(path))


def test_expand_to_a_shape_known_only_at_run_time_is_explained(tmp_path):
    path = tmp_path / "expand.onnx"
    m = model([node("ReduceMax", ["x"], ["m"], keepdims=0), node("Abs", ["m"], ["a"]),
               node("Cast", ["a"], ["n"], to=onnx.TensorProto.INT64), node("Unsqueeze", ["n", "ax"], ["s"]),
               node("Expand", ["x", "s"])], {"ax": np.array([0], np.int64)}, y_shape=None)
    onnx.save(m, str(path))
    with pytest.raises(UnsupportedOpError, match="'expand_y': operator 'Expand'.*known only at run time"):
        load_onnx(str(path))


def test_cli_exit_status_2_names_the_missing_data(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    _save_external(mobile_cnn(), path)
    os.remove(str(path) + ".data")
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "m.onnx.data" in capsys.readouterr().err


def test_module_paths_from_both_exporters():
    assert module_path_of_scope("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert module_path_of_scope("/features/features.1/block/block.1/fc1/Conv") == "features.1.block.1.fc1"
    assert module_path_of_scope("/conv1/Conv") == "conv1"
    assert module_path_of_scope("node_Conv_292") is None and module_path_of_scope("Conv_0") is None
    assert module_path_of_weight("layer1.0.conv1.weight") == "layer1.0.conv1"
    assert module_path_of_weight("onnx::Conv_196") is None


def test_other_producers_keep_node_names(tmp_path):
    m = mobile_cnn()
    m.producer_name = "some converter"
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    assert load_onnx(str(path)).layer_names[:2] == ["/stem/Conv", "/dw/Conv"]


def test_clip_without_bounds_and_nan_bound(tmp_path):
    """Clip's missing or NaN bound is unbounded (ONNX), in the reference and in TVM."""
    import tvm_sepnet
    from tests.onnx_models import run_onnxruntime

    m = model([node("Clip", ["x", "", "hi"])], {"hi": np.array(np.nan, np.float32)})
    path = tmp_path / "clip.onnx"
    onnx.save(m, str(path))
    x = np.random.default_rng(0).standard_normal((1, 8, 6, 6)).astype(np.float32)
    lm = load_onnx(str(path))
    art = tvm_sepnet.build(lm.mod, "x86", kxk="float", pointwise="float", act_bits=None)
    np.testing.assert_array_equal(art.check(x)["outputs"][0], run_onnxruntime(m, x))
