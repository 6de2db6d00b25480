"""Side by side with Larq Compute Engine: the same ``.tflite`` file in LCE's interpreter and compiled by
tvm-sepnet, end to end and per layer, 2 threads (``tvm-sepnet bench --lce FILE``,
``benchmarks/lce_side_by_side.py``).

LCE runs in a worker process (:mod:`.lce_worker`) of a Python that has ``larq-compute-engine``
(``--lce-python``; the ``[larq]`` extra puts it in this one). What is measured:

- **agreement**: one input, LCE's output vs ours (max abs difference), and per sign layer (LCE's
  ``LceBconv2d``) our compiled layer run on the *same* bitpacked input that LCE's layer got (its exposed
  input tensor), compared with LCE's output tensor: the binary layers must agree exactly;
- **end to end**: rounds of one block per engine (warm-up, then ``runs`` timed runs), a pause between
  blocks, medians (docs ``measuring.md``: interleaving single runs of two spinning thread pools slows
  both);
- **per layer**: LCE per operator (each operator as a one-operator model, timed in blocks) beside our
  per-layer kernel time inside the model (VM instrument, :func:`tvm_sepnet.profiling.profile_layers`).
  An imported layer is named after its first operator (``op<i>_bconv``); our sign layer also does the
  residual ``ADD`` after it and the ``LceQuantize`` of the next layer (fused), so its LCE time is the sum
  of those operators.
The machine's load average is recorded with every figure. Both engines run ``threads`` threads (TVM's pool
is set to that count for the comparison). ``clock="thread"`` times the calling thread's CPU time
(``time.thread_time``) instead of wall time, in both engines and per layer: with one thread that is the
whole work of a run, and other jobs on a shared machine do not count in it (only through caches and
memory bandwidth); it needs ``threads=1``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..errors import SepnetError
from .timing import cpu_name

WORKER = os.path.join(os.path.dirname(__file__), "lce_worker.py")


def find_lce_python(explicit: str | None = None) -> str:
    """The Python that runs LCE: ``explicit``, ``$TVM_SEPNET_LCE_PYTHON``, or this one if it has LCE."""
    for cand in (explicit, os.environ.get("TVM_SEPNET_LCE_PYTHON")):
        if cand:
            if not os.path.isfile(cand):
                raise SepnetError(f"LCE Python {cand!r} does not exist")
            return cand
    import importlib.util

    if importlib.util.find_spec("larq_compute_engine") is not None:
        return sys.executable
    raise SepnetError("Larq Compute Engine is not installed here: pip install 'tvm-sepnet[larq]', or pass "
                      "--lce-python /path/to/python of an environment with larq-compute-engine")


class LceWorker:
    """The LCE worker process (see :mod:`.lce_worker`); a context manager."""

    def __init__(self, python: str, path: str, threads: int = 2, flags=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.proc = subprocess.Popen([python, WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        self.ops = self.ask("load", path=os.path.abspath(path), threads=threads, flags=flags or {})["ops"]

    def ask(self, cmd: str, **args) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SepnetError(f"the LCE worker died during {cmd!r} (exit code {self.proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise SepnetError(f"LCE worker, {cmd}: {reply['error']}")
        return reply

    def run(self, x_nhwc: np.ndarray, expose=None) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "x.npz"), os.path.join(tmp, "y.npz")
            np.savez(src, x=x_nhwc)
            n = self.ask("run", input=src, output=dst, expose=list(expose or []))["outputs"]
            with np.load(dst) as z:
                return [z[f"y{i}"] for i in range(n)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def binary_layer_agreement(worker: LceWorker, net, x_nhwc, target: str = "x86") -> list[dict]:
    """Per ``LceBconv2d``: our compiled sign layer on LCE's own (exposed) bitpacked input vs LCE's output."""
    import tvm_sepnet
    from schedules.bit_layout import unpack_sign_bits
    from tvm_sepnet.models import to_relax
    from tvm_sepnet.models.graph import NetBuilder

    nodes = {n.name: n for n in net.nodes}
    shapes = net.shapes()
    bconvs = [op for op in worker.ops if op["op"] == "LceBconv2d"]
    tensors = [t for op in bconvs for t in (op["inputs"][0], op["outputs"][0])]
    exposed = worker.run(x_nhwc, expose=tensors)
    rows = []
    for k, op in enumerate(bconvs):
        node = nodes.get(f"op{op['index']}_bconv")
        if node is None:
            continue
        words, want = exposed[2 * k], exposed[2 * k + 1]
        c = shapes[node.inputs[0]][1]
        xin = unpack_sign_bits(np.ascontiguousarray(words.transpose(0, 3, 1, 2)), c)  # ±1 NCHW
        b = NetBuilder(node.name, xin.shape)
        attrs = {k2: v for k2, v in node.attrs.items()}
        b.add_node("sign_conv2d", node.name, [b.input], **attrs)
        one = b.build(seed=None)
        one.params = {k2: v for k2, v in net.params.items() if k2.startswith(node.name + ".")}
        art = tvm_sepnet.build(to_relax(one), target, kxk="float", pointwise="float", act_bits=None)
        got = art.run(xin)[0]
        if want.dtype == np.int32:  # a bitpacked output: compare the signs
            want_signs = unpack_sign_bits(np.ascontiguousarray(want.transpose(0, 3, 1, 2)), got.shape[1])
            rows.append({"layer": node.name, "bitpacked": True, "values": int(got.size),
                         "mismatches": int(np.count_nonzero(np.where(got < 0, -1, 1) != want_signs))})
        else:
            diff = np.abs(got.astype(np.float64) - _nchw(want))
            rows.append({"layer": node.name, "bitpacked": False, "values": int(got.size),
                         "mismatches": int(np.count_nonzero(diff)), "max_abs_diff": float(diff.max())})
    return rows


CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


def _tvm_block(art, x, runs: int, warmup: int, clock=time.perf_counter) -> list[float]:
    import tvm

    checked = art.reference().check_inputs(x)
    args = [tvm.runtime.tensor(checked[s["name"]], tvm.cpu()) for s in art.input_specs]
    fn = art.vm["main"]
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(runs):
        t0 = clock()
        fn(*args)
        times.append(clock() - t0)
    return times


def _lce_ops_of_layers(ops: list[dict], layers) -> dict:
    """Our layer -> the LCE operators it does: its own, and for a sign layer the ADD it fused and the
    LceQuantize after that ADD (our producer writes the packed bits)."""
    consumers: dict = {}
    for op in ops:
        for t in op["inputs"]:
            consumers.setdefault(t, []).append(op)
    out = {}
    for name in layers:
        if not name.startswith("op") or "_" not in name:
            continue
        try:
            idx = int(name[2:name.index("_")])
        except ValueError:
            continue
        group = [idx]
        if ops[idx]["op"] == "LceBconv2d":
            adds = [c for c in consumers.get(ops[idx]["outputs"][0], []) if c["op"] == "ADD"]
            for a in adds[:1]:
                group.append(a["index"])
                group += [q["index"] for q in consumers.get(a["outputs"][0], []) if q["op"] == "LceQuantize"]
        out[name] = group
    return out


def side_by_side(tflite_path: str, *, lce_python: str | None = None, rounds: int = 5, runs: int = 10, warmup: int = 3,
                 per_layer: bool = True, layer_rounds: int = 3, threads: int = 2, target: str = "x86",
                 lce_flags=None, pause: float = 0.5, seed: int = 0, clock: str = "wall") -> dict:
    """The comparison of the module docstring for one ``.tflite`` file; a JSON-able dict."""
    if clock not in CLOCKS:
        raise SepnetError(f"clock {clock!r}: one of {sorted(CLOCKS)}")
    if clock == "thread" and threads != 1:
        raise SepnetError("the thread CPU-time clock needs threads=1 (other threads' work is not on the caller's clock)")
    with _tvm_threads(threads):
        return _side_by_side(tflite_path, lce_python=lce_python, rounds=rounds, runs=runs, warmup=warmup,
                             per_layer=per_layer, layer_rounds=layer_rounds, threads=threads, target=target,
                             lce_flags=lce_flags, pause=pause, seed=seed, clock=clock)


class _tvm_threads:
    """TVM's CPU thread pool set to ``n`` threads inside the ``with``, back to its count afterwards."""

    def __init__(self, n: int):
        self.n = int(n)

    def __enter__(self):
        import tvm

        self.before = tvm.get_global_func("runtime.NumThreads")()
        self._set(self.n)
        return self

    def __exit__(self, *exc):
        self._set(self.before)

    @staticmethod
    def _set(n: int):
        import tvm

        tvm.get_global_func("runtime.config_threadpool")(1, n)  # mode 1: TVM's default (kBig) placement
        got = tvm.get_global_func("runtime.NumThreads")()
        if got != n:
            raise SepnetError(f"TVM's thread pool has {got} threads, asked for {n}")


def _side_by_side(tflite_path, *, lce_python, rounds, runs, warmup, per_layer, layer_rounds, threads, target,
                  lce_flags, pause, seed, clock) -> dict:
    import tvm_sepnet
    from tvm_sepnet.frontend import load_tflite, read_tflite
    from tvm_sepnet.profiling import profile_layers

    python = find_lce_python(lce_python)
    model = load_tflite(tflite_path)
    net = read_tflite(tflite_path)
    t0 = time.time()
    art = tvm_sepnet.build(model.mod, target, **model.config)
    build_s = time.time() - t0
    shape = tuple(art.input_specs[0]["shape"])
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    result = {"model": os.path.basename(tflite_path), "target": target, "threads": threads, "clock": clock,
              "lce_flags": lce_flags or {},
              "build_seconds": round(build_s, 2), "cpu": cpu_name(), "loadavg_start": os.getloadavg()[0]}
    with LceWorker(python, tflite_path, threads, lce_flags) as lce:
        ours = art.run(x)[0]
        theirs = _nchw(lce.run(_nhwc(x))[0])
        result["agreement"] = {"max_abs_diff": float(np.max(np.abs(ours.astype(np.float64) - theirs))),
                               "max_abs_output": float(np.max(np.abs(theirs))),
                               "reference_vs_lce": float(np.max(np.abs(art.reference().run(x)[0] - theirs)))}
        result["binary_layers"] = binary_layer_agreement(lce, net, _nhwc(x), target)
        e2e = {"lce": [], "tvm_sepnet": [], "loadavg": []}
        for _ in range(rounds):
            e2e["lce"].append(float(np.median(lce.ask("time", runs=runs, warmup=warmup, clock=clock)["seconds"])))
            time.sleep(pause)
            e2e["tvm_sepnet"].append(float(np.median(_tvm_block(art, x, runs, warmup, CLOCKS[clock]))))
            e2e["loadavg"].append(os.getloadavg()[0])
            time.sleep(pause)
        lce_ms, our_ms = 1e3 * float(np.median(e2e["lce"])), 1e3 * float(np.median(e2e["tvm_sepnet"]))
        rounds = {k: [round(v * (1e3 if k != "loadavg" else 1), 4) for v in vs] for k, vs in e2e.items()}
        result["end_to_end"] = {"lce_ms": lce_ms, "tvm_sepnet_ms": our_ms, "speedup": lce_ms / our_ms, "rounds": rounds,
                                "lce_min_ms": min(rounds["lce"]), "tvm_sepnet_min_ms": min(rounds["tvm_sepnet"])}
        if per_layer:
            ours_layers = [profile_layers(art, x, repeat=5, clock=CLOCKS[clock]) for _ in range(layer_rounds)]
            groups = _lce_ops_of_layers(lce.ops, ours_layers[0])
            op_ms: dict = {}
            for _ in range(layer_rounds):
                for op in lce.ops:
                    op_ms.setdefault(op["index"], []).append(
                        float(np.median(lce.ask("time", runs=runs, warmup=2, op=op["index"], clock=clock)["seconds"])))
                time.sleep(pause)
            rows = []
            for name, idxs in groups.items():
                ours_ms = float(np.median([r.get(name, 0.0) for r in ours_layers]))
                lce_layer = 1e3 * sum(float(np.median(op_ms[i])) for i in idxs)
                rows.append({"layer": name, "lce_ops": [f"#{i} {lce.ops[i]['op']}" for i in idxs], "lce_ms": lce_layer,
                             "tvm_sepnet_ms": ours_ms, "speedup": lce_layer / ours_ms if ours_ms else None})
            covered = {i for idxs in groups.values() for i in idxs}
            result["layers"] = rows
            result["lce_ops_elsewhere_ms"] = {f"#{op['index']} {op['op']}": 1e3 * float(np.median(op_ms[op["index"]]))
                                              for op in lce.ops if op["index"] not in covered}
            result["tvm_sepnet_other_ms"] = {k: float(np.median([r.get(k, 0.0) for r in ours_layers]))
                                             for k in ours_layers[0] if k not in groups}
    result["loadavg_end"] = os.getloadavg()[0]
    return result


def summary_lines(result: dict) -> list[str]:
    """Human-readable lines of one :func:`side_by_side` result."""
    e = result["end_to_end"]
    a = result["agreement"]
    exact = sum(1 for r in result["binary_layers"] if r["mismatches"] == 0)
    what = "thread CPU time" if result.get("clock") == "thread" else "wall time"
    lines = [f"{result['model']}: LCE {e['lce_ms']:.2f} ms, tvm-sepnet {e['tvm_sepnet_ms']:.2f} ms, x{e['speedup']:.1f} "
             f"({what}, {result['threads']} thread{'s' if result['threads'] != 1 else ''}, {result['cpu']}, "
             f"load {result['loadavg_start']:.1f} -> {result['loadavg_end']:.1f})",
             f"  output max |diff| {a['max_abs_diff']:.3g} (outputs up to {a['max_abs_output']:.3g}); binary layers exact "
             f"on LCE's own inputs: {exact}/{len(result['binary_layers'])}"]
    if result.get("layers"):
        lines.append(f"  {'layer':18} {'LCE ops':44} {'LCE ms':>8} {'ours ms':>8} {'x':>6}")
        for r in result["layers"]:
            sp = f"{r['speedup']:.1f}" if r["speedup"] else "-"
            ops = ", ".join(r["lce_ops"])[:44]
            lines.append(f"  {r['layer'][:18]:18} {ops:44} {r['lce_ms']:8.3f} {r['tvm_sepnet_ms']:8.3f} {sp:>6}")
    return lines
