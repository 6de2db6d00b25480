"""torchvision models exported by both torch.onnx exporters (real exports, reduced resolution), through both
pipelines: the float build within 1e-4 of onnxruntime, the default low-bit build bit-exact with the
reference executor; opsets 13 to 21; dynamo's external weights file; the same layer names from both
exporters. Needs torch, torchvision and onnxscript (``pip install -e .[torch]``)."""
import json
import os

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("onnxscript")

from tvm_sepnet.bench import torch_export  # noqa: E402
from tvm_sepnet.bench.conformance import run_case  # noqa: E402
from tvm_sepnet.cli import main  # noqa: E402
from tvm_sepnet.frontend import load_onnx  # noqa: E402

SIZE = 64
#: (model, exporter, opset): the four models of issue 16 through both exporters, opsets 13..21 between them
CASES = [
    ("resnet18", "dynamo", None), ("resnet18", "legacy", 17),
    ("mobilenet_v2", "dynamo", 18), ("mobilenet_v2", "legacy", 13),
    ("mobilenet_v3_small", "dynamo", 21), ("mobilenet_v3_small", "legacy", 17),
    ("shufflenet_v2_x0_5", "dynamo", None), ("shufflenet_v2_x0_5", "legacy", 13),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("torch_exports")
    for model, exporter, opset in CASES:
        path = str(folder / f"{model}.{exporter}.onnx")
        torch_export.export(model, exporter, path, opset, SIZE, seed=0)
        out[model, exporter] = path
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model,exporter,opset", CASES, ids=[f"{m}-{e}-{o or 'default'}" for m, e, o in CASES])
def test_both_pipelines(exported, model, exporter, opset):
    row = run_case(exported[model, exporter], latency_rounds=0)
    assert row["import"]["ok"], row["import"]
    assert row["opset"] == (opset or 20) and row["external_data"] == (exporter == "dynamo")
    assert row["float"]["ok"] and row["float"]["rel_err_vs_ort"] <= 1e-4, row["float"]
    assert row["lowbit"]["ok"] and row["lowbit"]["bit_exact"], row["lowbit"]


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted({m for m, _, _ in CASES}))
def test_layer_names_are_module_paths_from_both_exporters(exported, model):
    dynamo, legacy = (load_onnx(exported[model, e]).layer_names for e in ("dynamo", "legacy"))
    assert dynamo == legacy
    assert len(set(dynamo)) == len(dynamo) and not any(n.startswith(("node_", "/", "onnx::")) for n in dynamo)


@pytest.mark.slow
def test_conformance_command(tmp_path, capsys):
    table = tmp_path / "conformance.md"
    argv = ["conformance", "squeezenet1_1", "--image-size", "32", "--work-dir", str(tmp_path), "--latency-rounds", "1",
            "--table", str(table), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"] == {"pass": 2}
    assert {r["exporter"] for r in result["rows"]} == {"dynamo", "legacy"}
    assert all(r["latency_ms"]["ort_fp32"] > 0 and r["latency_ms"]["tvm_lowbit"] > 0 for r in result["rows"])
    text = table.read_text()
    assert text.count("| squeezenet1_1 |") == 2 and "| pass |" in text
    assert main(argv + ["--table-only"]) == 0  # the table again from the results file, no new rows
    assert sorted(os.listdir(tmp_path)) == ["conformance.md", "results.32.jsonl"]  # exports removed


def test_conformance_command_bad_input(tmp_path, capsys):
    assert main(["conformance", "resnet18", "--exporters", "torchscript", "--work-dir", str(tmp_path)]) == 2
    assert "unknown exporter" in capsys.readouterr().err
    assert main(["conformance", "resnet_imaginary", "--work-dir", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
