"""Conformance run: torchvision's classification models through both ``torch.onnx`` exporters.

For each model and exporter (``tvm-sepnet conformance``):

1. export (``torch_export.py``, in a Python that has torch: ``--export-python``);
2. in a fresh process (a case may take gigabytes; a crash or a timeout is a row, not the end of the run):
   load the ONNX file, compile it with the **float pipeline** (``kxk="float", pointwise="float",
   act_bits=None``) and compare its output with onnxruntime fp32 on the same file (relative error =
   max |diff| / max |onnxruntime|, passes at :data:`FLOAT_RTOL`); compile it with the **default low-bit
   pipeline** and compare with the reference executor (``Artifact.check``); time onnxruntime fp32 and both
   builds interleaved (:func:`interleaved_latency`);
3. append the row to a JSON-lines results file (a rerun skips the rows it has, ``--redo`` redoes them).

A model that tvm-sepnet cannot compile is a row whose ``missing`` names the piece (the error message:
node and operator); an error that is not a ``SepnetError`` is recorded as ``internal`` (a bug).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

FLOAT_RTOL = 1e-4
EXPORTERS = ("dynamo", "legacy")
EXPORT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_export.py")


def interleaved_samples(engines: dict, rounds: int = 5, block_seconds: float = 0.4, clock=time.perf_counter) -> dict:
    """Milliseconds per call of each engine (name -> zero-argument callable), one sample per round: after
    two warm-up calls each, ``rounds`` rounds in which every engine runs one block of calls (about
    ``block_seconds``; the order rotates each round), a sample being a block's mean; times of ``clock``
    (``time.thread_time``: the calling thread's CPU time, for engines that run on the calling thread)."""
    per_call = {}
    for name, fn in engines.items():
        fn()
        t0 = clock()
        fn()
        per_call[name] = max(clock() - t0, 1e-6)
    calls = {name: max(1, int(block_seconds / t)) for name, t in per_call.items()}
    samples: dict = {name: [] for name in engines}
    names = list(engines)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn, n = engines[name], calls[name]
            t0 = clock()
            for _ in range(n):
                fn()
            samples[name].append(1e3 * (clock() - t0) / n)
    return samples


def interleaved_latency(engines: dict, rounds: int = 5, block_seconds: float = 0.4, clock=time.perf_counter) -> dict:
    """Median milliseconds per call of each engine over :func:`interleaved_samples`' rounds."""
    return {name: float(np.median(v)) for name, v in interleaved_samples(engines, rounds, block_seconds, clock).items()}


def _graph_facts(path: str) -> dict:
    import onnx

    model = onnx.load(path, load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    return {"opset": opset, "external_data": external, "nodes": len(model.graph.node)}


def _failure(err: BaseException) -> dict:
    from ..errors import SepnetError

    if isinstance(err, SepnetError):
        return {"ok": False, "missing": str(err)}
    return {"ok": False, "internal": f"{type(err).__name__}: {err}"[:2000]}


def run_case(path: str, latency_rounds: int = 3, seed: int = 1) -> dict:
    """One ONNX file through both pipelines (the module docstring's step 2); a JSON-able row."""
    import onnxruntime as ort
    import tvm

    import tvm_sepnet
    from tvm_sepnet.frontend import load_onnx

    row = {**_graph_facts(path), "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    try:
        model = load_onnx(path)
    except Exception as err:  # noqa: BLE001 - every failure is a row
        row["import"] = _failure(err)
        return row
    row["import"] = {"ok": True, "seconds": time.perf_counter() - t0, "conv_layers": len(model.layer_names)}
    shape = [int(v) for v in model.mod["main"].params[0].ty.shape]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 2, 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    want = sess.run(None, feed)[0]
    engines = {"ort_fp32": lambda: sess.run(None, feed)}
    for key, options in (("float", {"kxk": "float", "pointwise": "float", "act_bits": None}), ("lowbit", {})):
        t0 = time.perf_counter()
        try:
            art = tvm_sepnet.build(model.mod, "x86", layer_names=model.layer_names, **options)
            compile_s = time.perf_counter() - t0
            if key == "float":
                got = art.run(x)[0]
                err = float(np.abs(got.astype(np.float64) - want).max() / max(float(np.abs(want).max()), 1e-30))
                row[key] = {"ok": bool(np.all(np.isfinite(got)) and err <= FLOAT_RTOL), "rel_err_vs_ort": err}
            else:
                res = art.check(x)
                kinds: dict = {}
                for layer in art.layers:
                    kinds[layer["kind"]] = kinds.get(layer["kind"], 0) + 1
                row[key] = {"ok": res["match"], "rel_err_vs_reference": res["max_rel_err"],
                            "bit_exact": res["bit_exact"], "layer_kinds": kinds,
                            "weight_bytes": art.meta["weight_bytes_total"]}
            row[key]["compile_s"] = compile_s
            args = [tvm.runtime.tensor(x)]
            engines[f"tvm_{key}"] = lambda vm=art.vm, args=args: vm["main"](*args)
        except Exception as err:  # noqa: BLE001 - every failure is a row
            row[key] = _failure(err)
    if latency_rounds:
        row["latency_ms"] = interleaved_latency(engines, rounds=latency_rounds)
    row["load_after"] = os.getloadavg()[0]
    return row


def list_models(export_python: str) -> list[str]:
    out = subprocess.run([export_python, EXPORT_SCRIPT, "list"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def _tail(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def export_model(model: str, exporter: str, path: str, *, export_python: str, image_size: int, opset=None,
                 timeout: float = 1800) -> dict:
    """Export one model (a subprocess of ``export_python``); ``{"ok", ...}`` with the export's facts."""
    cmd = [export_python, EXPORT_SCRIPT, "export", model, exporter, path, "--image-size", str(image_size)]
    if opset:
        cmd += ["--opset", str(opset)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"export timed out after {timeout:.0f} s"}
    info = _last_json(proc.stdout) if proc.returncode == 0 else None
    if info is None:
        return {"ok": False, "error": _tail(proc.stderr) or _tail(proc.stdout)}
    return {"ok": True, **info}


def case_in_subprocess(path: str, latency_rounds: int, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "tvm_sepnet.bench.conformance", path, "--latency-rounds", str(latency_rounds)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"import": {"ok": False, "internal": f"timed out after {timeout:.0f} s"}}
    row = _last_json(proc.stdout)
    if row is None:
        return {"import": {"ok": False, "internal": f"process died (status {proc.returncode}): {_tail(proc.stderr)}"}}
    return row


def read_rows(path: str) -> list[dict]:
    """The rows of a results file, one per (model, exporter, image size): a later line (``--redo``)
    replaces an earlier one."""
    if not os.path.exists(path):
        return []
    rows: dict = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows.pop((row["model"], row["exporter"], row["image_size"]), None)
                rows[row["model"], row["exporter"], row["image_size"]] = row
    return list(rows.values())


def run_conformance(models, exporters, work_dir: str, results: str, *, export_python: str, image_size: int = 224,
                    latency_rounds: int = 3, timeout: float = 3600, redo: bool = False, keep_onnx: bool = False,
                    log=print) -> list[dict]:
    """Every (model, exporter) case not yet in ``results`` (module docstring); returns all rows of ``results``."""
    os.makedirs(work_dir, exist_ok=True)
    done = {(r["model"], r["exporter"], r["image_size"]) for r in read_rows(results)}
    for model in models:
        for exporter in exporters:
            if (model, exporter, image_size) in done and not redo:
                continue
            # each case in its own folder: an export over 2 GB (legacy exporter) writes one file per weight
            case_dir = os.path.join(work_dir, f"{model}.{exporter}.{image_size}")
            path = os.path.join(case_dir, "model.onnx")
            os.makedirs(case_dir, exist_ok=True)
            row = {"model": model, "exporter": exporter, "image_size": image_size}
            if not os.path.exists(path):
                row["export"] = export_model(model, exporter, path, export_python=export_python, image_size=image_size)
            if row.get("export", {"ok": True})["ok"]:
                row.update(case_in_subprocess(path, latency_rounds, timeout))
            if not keep_onnx:
                shutil.rmtree(case_dir, ignore_errors=True)
            with open(results, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            log(summary_line(row))
    return read_rows(results)


def row_status(row: dict) -> str:
    """``pass`` (both pipelines match), ``float only``, ``fail``, or ``export failed``."""
    if not row.get("export", {"ok": True})["ok"]:
        return "export failed"
    if not row.get("import", {}).get("ok"):
        return "fail"
    fl, lb = row.get("float", {}).get("ok"), row.get("lowbit", {}).get("ok")
    return "pass" if fl and lb else ("float only" if fl else "fail")


def summary_line(row: dict) -> str:
    lat = row.get("latency_ms", {})
    parts = [f"{row['model']:22} {row['exporter']:7} {row_status(row):13}"]
    if "float" in row and "rel_err_vs_ort" in row["float"]:
        parts.append(f"float {row['float']['rel_err_vs_ort']:.1e}")
    if "lowbit" in row and "rel_err_vs_reference" in row["lowbit"]:
        parts.append(f"lowbit {row['lowbit']['rel_err_vs_reference']:.1e}")
    if lat:
        parts.append(" ".join(f"{k} {v:.1f} ms" for k, v in lat.items()))
    for stage in ("export", "import", "float", "lowbit"):
        info = row.get(stage, {})
        why = info.get("missing") or info.get("internal") or info.get("error")
        if why:
            parts.append(f"[{stage}] {why[:160]}")
    return "  ".join(parts)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="one conformance case (an ONNX file); prints a JSON row")
    parser.add_argument("onnx")
    parser.add_argument("--latency-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run_case(args.onnx, latency_rounds=args.latency_rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
