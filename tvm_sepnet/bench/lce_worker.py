"""Larq Compute Engine's side of ``tvm_sepnet.bench.lce``: a worker run by a Python that has
``larq-compute-engine`` (extra ``[larq]``, or another virtual environment), driven by JSON lines on stdin.

Imports numpy, flatbuffers and LCE only (no TVM, no tvm_sepnet), so it runs in LCE's environment.
Commands (one JSON object per line; one JSON reply per line):

- ``{"cmd": "load", "path", "threads", "flags"}``: the interpreter for the model (``flags``: LCE's
  ``use_indirect_bgemm`` / ``use_reference_bconv``); replies the model's ops ``[{index, op, inputs,
  outputs}]``;
- ``{"cmd": "run", "input": npz, "output": npz, "expose": [tensor indices]}``: runs on ``input["x"]`` (NHWC)
  and saves the outputs as ``y0, y1, ...`` (the model outputs, or the exposed tensors);
- ``{"cmd": "time", "runs", "warmup", "op": index or null, "clock": "wall" or "thread"}``: seconds of
  each of ``runs`` runs after ``warmup`` runs, of the whole model or of a model made of that one operator
  (random inputs); ``clock`` ``thread`` is the calling thread's CPU time (``time.thread_time``: the
  whole run with one interpreter thread);
- ``{"cmd": "quit"}``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import numpy as np


def _schema():
    """LCE's own flatc-generated TFLite schema (object API), loaded by path: importing the package's
    ``mlir`` module would import TensorFlow."""
    import larq_compute_engine

    path = os.path.join(os.path.dirname(larq_compute_engine.__file__), "mlir", "python", "tflite_schema.py")
    spec = importlib.util.spec_from_file_location("lce_tflite_schema", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Worker:
    def __init__(self):
        self.schema = _schema()
        self.models = {}

    def _rewrite(self, edit) -> bytes:
        import flatbuffers

        m = self.schema.ModelT.InitFromObj(self.schema.Model.GetRootAsModel(self.raw, 0))
        m.signatureDefs = None  # it names the original outputs
        edit(m)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _interpreter(self, raw: bytes):
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        return Interpreter(raw, num_threads=self.threads, **self.flags)

    def load(self, path, threads=2, flags=None):
        self.path, self.threads, self.flags = path, int(threads), dict(flags or {})
        with open(path, "rb") as f:
            self.raw = f.read()
        m = self.schema.ModelT.InitFromObj(self.schema.Model.GetRootAsModel(self.raw, 0))
        self.model_t = m
        codes = []
        for oc in m.operatorCodes:
            code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            codes.append(oc.customCode.decode() if oc.customCode else self._builtin_name(code))
        sg = m.subgraphs[0]
        self.ops = [{"index": i, "op": codes[op.opcodeIndex], "inputs": [int(v) for v in op.inputs],
                     "outputs": [int(v) for v in op.outputs]} for i, op in enumerate(sg.operators)]
        self.models = {None: self._interpreter(self.raw)}
        return {"ops": self.ops}

    def _builtin_name(self, code):
        names = {v: k for k, v in vars(self.schema.BuiltinOperator).items() if not k.startswith("_")}
        return names.get(code, str(code))

    def _inputs_of(self, interp):
        shapes, types = interp.input_shapes, interp.input_types
        rng = np.random.default_rng(0)
        out = []
        for shape, ty in zip(shapes, types):
            if np.dtype(ty) == np.int32:
                out.append(rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64).astype(np.int32))
            else:
                out.append(rng.standard_normal(shape).astype(np.dtype(ty)))
        return out

    def _op_model(self, index):
        if index not in self.models:
            sg0 = self.model_t.subgraphs[0]
            consts = {i for i, t in enumerate(sg0.tensors) if self.model_t.buffers[t.buffer].data is not None
                      and len(self.model_t.buffers[t.buffer].data)}

            def edit(m):
                sg = m.subgraphs[0]
                op = sg.operators[index]
                sg.operators = [op]
                sg.inputs = [int(t) for t in op.inputs if t >= 0 and t not in consts]
                sg.outputs = [int(t) for t in op.outputs]

            self.models[index] = self._interpreter(self._rewrite(edit))
        return self.models[index]

    def run(self, input, output, expose=None):
        x = np.load(input)["x"]
        if expose:
            interp = self._interpreter(self._rewrite(lambda m: setattr(m.subgraphs[0], "outputs", [int(t) for t in expose])))
        else:
            interp = self.models[None]
        out = interp.predict(x)
        out = out if isinstance(out, list) else [out]
        np.savez(output, **{f"y{i}": np.asarray(v) for i, v in enumerate(out)})
        return {"outputs": len(out)}

    def time(self, runs=10, warmup=3, op=None, clock="wall"):
        now = {"wall": time.perf_counter, "thread": time.thread_time}[clock]
        interp = self.models[None] if op is None else self._op_model(op)
        args = self._inputs_of(interp)
        inner = interp.interpreter  # the wrapper's predict on a list of arrays, without the Python data generator
        for _ in range(int(warmup)):
            inner.predict(args)
        times = []
        for _ in range(int(runs)):
            t0 = now()
            inner.predict(args)
            times.append(now() - t0)
        return {"seconds": times}


def main():
    w = Worker()
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "quit":
            break
        try:
            reply = getattr(w, cmd)(**msg)
        except Exception as err:  # noqa: BLE001 - reported to the driver, which raises it
            reply = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
