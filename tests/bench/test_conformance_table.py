"""The conformance results file and table (no torch needed): a redone row replaces the earlier one, a
failure names its missing piece, and a document keeps its text around the table's markers."""
import json

from tvm_sepnet.bench.conformance import read_rows
from tvm_sepnet.bench.conformance_table import markdown_table, table_markers, write_table

PASS = {"model": "m", "exporter": "dynamo", "image_size": 64, "opset": 20, "external_data": True, "import": {"ok": True},
        "float": {"ok": True, "rel_err_vs_ort": 2.5e-7, "compile_s": 3.0},
        "lowbit": {"ok": True, "rel_err_vs_reference": 0.0, "compile_s": 4.0}}
FAIL = {"model": "m", "exporter": "legacy", "image_size": 64,
        "import": {"ok": False, "missing": "ONNX node 'n': operator 'GatherND' | not supported"}}


def test_a_redone_row_replaces_the_earlier_one(tmp_path):
    path = tmp_path / "r.jsonl"
    redone = dict(PASS, opset=21)
    path.write_text("".join(json.dumps(r) + "\n" for r in (PASS, FAIL, redone)))
    rows = read_rows(str(path))
    assert [(r["exporter"], r.get("opset")) for r in rows] == [("legacy", None), ("dynamo", 21)]


def test_table_rows_and_missing_piece():
    lines = markdown_table([FAIL, PASS]).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| m | dynamo | pass | 20 | yes | 2.5e-07 | 0.0e+00 | 3 / 4 |")
    assert "| m | legacy | fail |" in lines[3] and "operator 'GatherND' \\| not supported" in lines[3]


def test_write_table_between_markers_keeps_the_document(tmp_path):
    doc = tmp_path / "doc.md"
    begin, end = table_markers(64)
    doc.write_text(f"# Title\ntext\n{begin}\nold table\n{end}\nafter\n")
    write_table(str(doc), "| new |", 64)
    assert doc.read_text() == f"# Title\ntext\n{begin}\n| new |\n{end}\nafter\n"
    write_table(str(doc), "| 224 |", 224)  # no markers for this size: the whole file
    assert doc.read_text() == "| 224 |\n"
