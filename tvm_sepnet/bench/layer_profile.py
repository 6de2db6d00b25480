"""``tvm-sepnet profile``: where an artifact's time goes, layer by layer, beside the float network in
onnxruntime.

On the host, every kernel call of one run is charged to its layer through the Relax VM's instrument
hook (:func:`tvm_sepnet.profiling.profile_layers`, the mechanism of the model check); on an RPC
device each layer kernel is timed there (:mod:`tvm_sepnet.device.remote_profile`). Each layer row
gets its share of the summed time, its MACs (a pattern block's k×k conv counted in the fused kernel
that runs it), achieved G MAC/s and GOPS (2 ops per MAC), and on the host the percentage of the peak
of the instruction its kernel runs on (:mod:`.peak`, :func:`.model_layers.peak_of`). The whole
model is also timed on its own (``time_evaluator``), so the per-layer sum can be compared with it.
The float network (the zoo model exported to ONNX at the artifact's input shape, or ``onnx``) runs in
onnxruntime with its per-node profiler (:mod:`.ort_layers`).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import SepnetError
from ..figures import save_figure, subplots
from .model_layers import rows_from_times


def float_onnx(meta: dict, graph: dict, onnx_path: str | None, tmp: str) -> tuple[str | None, str]:
    """(path of the float ONNX network, how it was found) for an artifact's ``meta`` and quantized
    ``graph``: ``onnx_path``, or
    the zoo model exported at the artifact's input shape and class count; (None, why) otherwise."""
    if onnx_path:
        if not os.path.isfile(onnx_path):
            raise SepnetError(f"--onnx {onnx_path!r}: no such file")
        return onnx_path, onnx_path
    from ..models import get_model, list_models, save_onnx

    name = meta.get("model")
    if name not in list_models():
        return None, f"model {name!r} is not a zoo model: pass its float ONNX file with --onnx"
    n, _, h, _ = meta["inputs"][0]["shape"]
    shapes = {node["name"]: node.get("shape") for node in graph["nodes"]}
    classes = int(np.prod(shapes[graph["outputs"][0]][1:]))
    path = os.path.join(tmp, f"{name}.onnx")
    save_onnx(get_model(name, seed=0, image_size=h, num_classes=classes, batch=n), path)
    return path, f"tvm-sepnet export-onnx {name} --image-size {h} --num-classes {classes}"


def _ort_column(rows: list[dict], onnx_path: str, inputs: dict, layer_names: list[str], threads: int) -> dict:
    """Add ``ort_ms`` to each layer row (its layer's nodes, and those of the layers its kernel runs) and
    return the onnxruntime summary."""
    from .model_layers import fused_layers
    from .ort_layers import ort_layer_times

    ort = ort_layer_times(onnx_path, inputs, threads=threads)
    ours = {n.replace(".", "_"): n for n in layer_names}
    by_layer: dict[str, float] = {}
    for node_layer, ms in ort["layers"].items():
        name = node_layer if node_layer in layer_names else ours.get(node_layer.replace(".", "_"))
        by_layer[name or f"other: {node_layer}"] = by_layer.get(name or f"other: {node_layer}", 0.0) + ms
    return {**ort, "by_layer": by_layer, "fused": fused_layers(rows)}


def read_peaks(path: str) -> dict:
    """Peaks from a JSON file: the ``peaks`` of a ``tvm-sepnet bench`` result, or the peak dict itself
    (keys of :func:`.peak.measure_peaks`: ``vnni_mac``, ``ubsw_mac``, ``int16_mac``, ``fp32_mac``, ``popcount``)."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise SepnetError(f"--peaks {path!r}: cannot read it as JSON: {err}") from None
    peaks = data.get("peaks", data) if isinstance(data, dict) else None
    need = ("vnni_mac", "ubsw_mac", "int16_mac", "fp32_mac", "popcount")
    if not isinstance(peaks, dict) or any(not isinstance(peaks.get(k), (int, float)) for k in need):
        raise SepnetError(f"--peaks {path!r}: expected numbers for {', '.join(need)} (ops/s), e.g. the 'peaks' of "
                          "benchmarks/results/bench.json")
    return peaks


def _thread_seconds(fn, repeat: int, number: int = 3) -> float:
    """Median over ``repeat`` blocks of the calling thread's CPU seconds per call of ``fn``."""
    import time

    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.thread_time()
        for _ in range(number):
            fn()
        runs.append((time.thread_time() - t0) / number)
    return float(np.median(runs))


def profile_artifact(path: str, inputs=None, *, host=None, port=None, tracker=None, key=None, onnx: str | None = None,
                     ort: bool = True, repeat: int = 5, threads: int | None = None, peaks: dict | None = None,
                     clock: str = "wall") -> dict:
    """The profile of artifact ``path`` (on the host, or on an RPC device when ``host``/``port`` or
    ``tracker``/``key`` are given): ``rows`` (name, kernel, ms, share, macs, gmacs, gops, instruction,
    pct_peak, ort_ms), ``sum_ms`` (the rows' total), ``kernels_ms`` (the time measured kernel by kernel:
    on a device, without the ``other`` row that fills up to the whole model's time), ``total_ms`` (the
    whole model timed on its own), ``ort`` (onnxruntime's totals on this host, not on the device, or
    ``ort_note`` why there is none), ``peaks`` (host: ``peaks``, else measured now). ``clock`` (host):
    ``wall`` or ``thread`` (the calling thread's CPU time, robust to other jobs; needs 1 thread)."""
    from ..artifact import load, load_reference

    threads = threads or int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))
    remote = bool(host or tracker)
    if clock == "thread" and (remote or int(os.environ.get("TVM_NUM_THREADS", "1")) != 1):
        raise SepnetError("--clock thread times the calling thread's CPU: it needs a host profile with TVM_NUM_THREADS=1")
    ref = load_reference(path)
    if inputs is None:
        rng = np.random.default_rng(0)
        inputs = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in ref.input_specs}
    inputs = ref.check_inputs(inputs)
    if remote:
        import json

        from ..artifact import META_JSON
        from ..device.remote_profile import remote_layer_times

        with open(os.path.join(path, META_JSON), encoding="utf-8") as f:
            meta = json.load(f)
        timed = remote_layer_times(path, host=host, port=port, tracker=tracker, key=key, inputs=inputs, repeat=repeat)
        times = {k: v for k, v in timed["layers"].items() if meta["layer_kernels"].get(k)}
        kernels_ms = float(sum(times.values()))
        times["other (not a layer kernel)"] = max(timed["total_ms"] - kernels_ms, 0.0)
        peaks, total, where = None, timed["total_ms"], {"device": timed["device"], "device_info": timed["device_info"]}
    else:
        import time

        import tvm

        from ..profiling import profile_layers
        from .peak import measure_peaks

        art = load(path)
        meta = art.meta
        peaks = dict(peaks) if peaks else measure_peaks(threads)
        timer = time.thread_time if clock == "thread" else time.perf_counter
        times = profile_layers(art, inputs, repeat=repeat, clock=timer)
        kernels_ms = float(sum(times.values()))
        if clock == "thread":
            args = [tvm.runtime.tensor(inputs[s["name"]], tvm.cpu()) for s in art.input_specs]
            main = art.vm["main"]
            total = 1e3 * _thread_seconds(lambda: main(*args), repeat)
        else:
            total = 1e3 * art.time(inputs, number=3, repeat=repeat)
        where = {"device": "host", "threads": threads, "clock": clock}
    rows = rows_from_times(meta["layers"], times, peaks)
    summed = float(sum(r["ms"] for r in rows))
    for r in rows:
        r["share"] = r["ms"] / summed if summed else None
        r["gops"] = 2 * r["gmacs"] if r["gmacs"] else None
    result = {"artifact": path, "model": meta.get("model"), "target": meta["target"], **where, "rows": rows,
              "sum_ms": summed, "kernels_ms": kernels_ms, "total_ms": total, "peaks": peaks,
              "input_shape": ref.input_specs[0]["shape"]}
    if ort:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path, how = float_onnx(meta, ref.graph, onnx, tmp)
            if onnx_path is None:
                result["ort_note"] = how
            else:
                try:
                    info = _ort_column(rows, onnx_path, inputs, [r["name"] for r in meta["layers"]], threads)
                except ImportError:
                    raise SepnetError("the onnxruntime column needs onnx and onnxruntime: pip install "
                                      "'tvm-sepnet[onnx]' (or pass --no-ort)") from None
                _attach_ort(rows, info)
                result["ort"] = {"source": how, "where": "this host", "total_ms": info["total_ms"],
                                 "run_median_ms": info["run_median_ms"], "threads": info["threads"],
                                 "onnxruntime": info["onnxruntime"],
                                 "unmatched": {k: v for k, v in info["by_layer"].items() if k.startswith("other")}}
                result["ort"]["unmatched"].update(info["other"])
    return result


def _attach_ort(rows: list[dict], info: dict) -> None:
    """``ort_ms`` of each layer row: its own nodes' time plus that of the layers its kernel computes."""
    owner = {}
    for name, into in info["fused"].items():
        owner[name] = into
    per_row: dict[str, float] = {}
    for layer, ms in info["by_layer"].items():
        if layer.startswith("other"):
            continue
        key = owner.get(layer, layer)
        per_row[key] = per_row.get(key, 0.0) + ms
    for r in rows:
        r["ort_ms"] = per_row.get(r["name"]) if r["kernel"] is not None else None


def format_profile(result: dict) -> str:
    """The profile as a text table."""
    lines = [f"{result['model']} ({result['target']}) on {result['device']}, input {result['input_shape']}: "
             f"kernels timed {result['kernels_ms']:.3f} ms, rows sum {result['sum_ms']:.3f} ms, whole model timed alone "
             f"{result['total_ms']:.3f} ms"
             + (f"; onnxruntime fp32 on this host {result['ort']['total_ms']:.3f} ms ({result['ort']['source']})"
                if result.get("ort") else f"; no onnxruntime column: {result.get('ort_note', 'not asked')}"),
             f"{'layer':28} {'kernel':26} {'ms':>8} {'share':>6} {'G MAC/s':>8} {'GOPS':>7} {'% peak':>7} "
             f"{'instruction':16} {'ORT ms':>8}"]

    def num(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for r in result["rows"]:
        lines.append(f"{r['name'][:28]:28} {str(r['kernel'] or '')[:26]:26} {r['ms']:8.3f} {100 * (r['share'] or 0):5.1f}% "
                     f"{num(r['gmacs'], '8.1f'):>8} {num(r['gops'], '7.1f'):>7} {num(r['pct_peak'], '6.1f'):>7} "
                     f"{str(r['instruction'] or ''):16} {num(r.get('ort_ms'), '8.3f'):>8}")
    return "\n".join(lines)


def plot_profile(result: dict, png: str) -> str:
    """A horizontal bar chart of the layer rows' ms (ours and onnxruntime's) to ``png``."""
    rows = result["rows"]
    names = [r["name"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = subplots(figsize=(9, max(3.0, 0.22 * len(rows) + 1.2)))
    ax.barh(y - 0.2, [r["ms"] for r in rows], height=0.4, label=f"tvm-sepnet ({result['target']}, {result['device']})")
    if result.get("ort"):
        ax.barh(y + 0.2, [r.get("ort_ms") or 0.0 for r in rows], height=0.4, label="onnxruntime fp32 (this host)")
    ax.set_yticks(y, names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("ms per run")
    ax.set_title(f"{result['model']} per layer: sum {result['sum_ms']:.2f} ms, whole model {result['total_ms']:.2f} ms",
                 fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, png, dpi=110)


__all__ = ["float_onnx", "format_profile", "plot_profile", "profile_artifact"]
