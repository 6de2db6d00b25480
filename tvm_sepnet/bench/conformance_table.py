"""The conformance results (``tvm_sepnet.bench.conformance`` rows) as a markdown table."""
from __future__ import annotations

from .conformance import FLOAT_RTOL, row_status


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _why(row: dict) -> str:
    for stage in ("export", "import", "float", "lowbit"):
        info = row.get(stage, {})
        if info.get("ok", True) is False or info.get("missing") or info.get("internal"):
            text = info.get("missing") or info.get("internal") or info.get("error")
            if text is None and stage == "float":
                text = f"relative error {info.get('rel_err_vs_ort', float('nan')):.1e} > {FLOAT_RTOL:g}"
            if text is None and stage == "lowbit":
                text = f"relative error vs reference {info.get('rel_err_vs_reference', float('nan')):.1e}"
            kind = "internal error" if info.get("internal") else stage
            return f"{kind}: {text}".replace("|", "\\|").replace("\n", " ")[:300]
    return ""


def markdown_table(rows: list[dict]) -> str:
    """One line per (model, exporter): status, opset, float error vs onnxruntime, low-bit error vs the
    reference executor, compile times, latencies, and for a failure the missing piece."""
    head = ("| model | exporter | status | opset | ext. data | float rel. err vs ORT | low-bit rel. err vs ref "
            "| compile float / low-bit (s) | ORT fp32 ms | TVM float ms | TVM low-bit ms | low-bit / ORT | missing piece |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for row in sorted(rows, key=lambda r: (r["model"], r["exporter"])):
        fl, lb, lat = row.get("float", {}), row.get("lowbit", {}), row.get("latency_ms", {})
        ort_ms, low_ms = lat.get("ort_fp32"), lat.get("tvm_lowbit")
        ratio = low_ms / ort_ms if ort_ms and low_ms else None
        compile_s = f"{_num(fl.get('compile_s'), '.0f')} / {_num(lb.get('compile_s'), '.0f')}"
        ext = {True: "yes", False: "no"}.get(row.get("external_data"), "-")
        lines.append(
            f"| {row['model']} | {row['exporter']} | {row_status(row)} | {row.get('opset', '-')} | {ext} "
            f"| {_num(fl.get('rel_err_vs_ort'), '.1e')} | {_num(lb.get('rel_err_vs_reference'), '.1e')} | {compile_s} "
            f"| {_num(ort_ms, '.1f')} | {_num(lat.get('tvm_float'), '.1f')} | {_num(low_ms, '.1f')} "
            f"| {_num(ratio, '.2f')} | {_why(row)} |")
    return "\n".join(lines)


def table_markers(image_size: int) -> tuple[str, str]:
    """The comment lines around the table of ``image_size`` in a document (:func:`write_table`)."""
    return f"<!-- conformance table {image_size} -->", f"<!-- end conformance table {image_size} -->"


def write_table(path: str, table: str, image_size: int) -> str:
    """Write ``table`` to ``path``: between the markers of :func:`table_markers` when the file has them
    (the rest of the document stays), else as the whole file. Returns what was done."""
    import os

    begin, end = table_markers(image_size)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if begin in text and end in text.split(begin, 1)[1]:
            head, rest = text.split(begin, 1)
            tail = rest.split(end, 1)[1]
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"{head}{begin}\n{table}\n{end}{tail}")
            return f"table written between the {image_size} markers of {path}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(table + "\n")
    return f"table written to {path}"


def summary(rows: list[dict]) -> dict:
    """Counts of rows per status."""
    counts: dict = {}
    for row in rows:
        counts[row_status(row)] = counts.get(row_status(row), 0) + 1
    return counts
