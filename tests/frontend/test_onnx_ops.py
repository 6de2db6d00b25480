"""Every supported ONNX op, one small model each: the reference executor's twin and the TVM build (float
pipeline) against onnxruntime, and the TVM build against the reference executor."""
import numpy as np
import onnx
import pytest

import tvm_sepnet
from relay_passes.pipeline import CompileConfig, run_pipeline
from tests.frontend.onnx_op_cases import CASES, X_SHAPE
from tests.onnx_models import run_onnxruntime
from tvm_sepnet.frontend import SUPPORTED_ONNX_OPS, load_onnx
from tvm_sepnet.reference import ReferenceExecutor

FLOAT = {"kxk": "float", "pointwise": "float", "act_bits": None}
#: cases TVM computes in float32 with formulas of its own (reference_ops: "close", not bit for bit)
CLOSE = {"Resize_linear_half_pixel", "Resize_linear_align_corners"}


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(11).standard_normal(X_SHAPE).astype(np.float32) * 2


def _load(tmp_path, name):
    path = tmp_path / f"{name}.onnx"
    onnx.save(CASES[name], str(path))
    return load_onnx(str(path))


def _close(got, want, rtol):
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert got.shape == want.shape and err <= rtol * scale, f"max |diff| {err:.3g} vs max |ref| {scale:.3g}"


def test_every_supported_op_has_a_case():
    used = {n.op_type for m in CASES.values() for n in m.graph.node}
    assert SUPPORTED_ONNX_OPS - used == set()


@pytest.mark.parametrize("name", sorted(CASES))
def test_reference_twin_matches_onnxruntime(tmp_path, x, name):
    model = _load(tmp_path, name)
    _, report = run_pipeline(model.mod, "x86", CompileConfig.of(**FLOAT), until="fuse_epilogues")
    got = ReferenceExecutor(report.graph, report.consts).run(x)[0]
    _close(got, run_onnxruntime(CASES[name], x), 2e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_tvm_build_matches_onnxruntime_and_reference(tmp_path, x, name):
    model = _load(tmp_path, name)
    art = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, **FLOAT)
    res = art.check(x)
    assert res["bit_exact"] or (name in CLOSE and res["max_rel_err"] <= 1e-6), res["max_rel_err"]
    _close(res["outputs"][0], run_onnxruntime(CASES[name], x), 2e-6)
