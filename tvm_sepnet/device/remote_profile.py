"""Per-layer time of an artifact on an RPC device: every layer kernel timed there by the remote
``time_evaluator``, beside the whole model's remote time.

The Relax VM's instrument hook (:mod:`tvm_sepnet.profiling`) runs only in this process, and the
device's copy of ``model.so`` exposes its kernels only through the VM. So the layer kernels an ARM
artifact keeps (``kernels.json``: each layer's kernel functions in call order and their scheduled
TIR, the same TIR ``model.so`` was built from) are compiled again into one library for the artifact's
target, uploaded, and each kernel is timed on the device on arguments of its buffers' shapes and
dtypes (random values: the integer and float kernels' time does not depend on them). A layer's time
is the sum over its kernel calls. What the layers' kernels do not cover (pooling, the VM's own
calls, the dense classifier when it is a float matmul) is the whole model's remote time minus their
sum, reported as ``other``.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ..artifact import GRAPH_JSON, GRAPH_NPZ, KERNELS_JSON, LIB_NAME, META_JSON
from ..errors import SepnetError
from ..reference import ReferenceExecutor
from .deploy import DeployError, _tensor, artifact_machine, connect, device_info


def _kernel_args(func, rng) -> list[np.ndarray]:
    """Arrays for the parameters of PrimFunc ``func`` (shapes and dtypes of its buffers)."""
    from tvm.s_tir import meta_schedule as ms

    out = []
    for info in ms.arg_info.ArgInfo.from_prim_func(func):
        shape, dtype = [int(s) for s in info.shape], str(info.dtype)
        if dtype.startswith("float"):
            out.append(rng.standard_normal(shape).astype(dtype))
        else:
            out.append(rng.integers(0, 2, size=shape).astype(dtype))
    return out


def remote_layer_times(path: str, *, host=None, port=None, tracker=None, key=None, inputs=None, repeat: int = 5,
                       timeout: float = 300.0) -> dict:
    """{"layers": {layer: ms}, "kernels": {kernel: ms per call}, "total_ms", "device", "device_info"} of
    artifact ``path`` on an RPC device (median of ``repeat`` timings each)."""
    import tvm
    from tvm import relax
    from tvm.support import cc as tcc

    from ..targets import get_target

    with open(os.path.join(path, META_JSON), encoding="utf-8") as f:
        meta = json.load(f)
    kernels_path = os.path.join(path, KERNELS_JSON)
    if not os.path.isfile(kernels_path):
        raise SepnetError(f"{path!r} has no {KERNELS_JSON}: profiling on an RPC device needs an artifact compiled for "
                          "an ARM target (tvm-sepnet compile --target arm64); profile x86 artifacts on the host")
    with open(kernels_path, encoding="utf-8") as f:
        kernels = json.load(f)
    preset = get_target(meta["target"])
    funcs = {name: tvm.ir.load_json(text) for name, text in kernels["tir"].items()}
    lib = tvm.compile(tvm.IRModule({name: f.with_attr("global_symbol", name) for name, f in funcs.items()}),
                      target=preset.tvm_target())
    remote, where = connect(host, port, tracker, key, timeout)
    info = device_info(remote)
    want = artifact_machine(meta)
    if info is not None and info.get("machine") != want:
        raise DeployError(f"artifact {path!r} was built for {meta['target']} ({want}); device {where} is "
                          f"{info.get('machine')}: compile for that device's target")
    dev = remote.cpu()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, "kernels.so")
        lib.export_library(so, fcompile=tcc.cross_compiler(preset.export_cc) if preset.export_cc else None)
        try:
            remote.upload(so, "sepnet_kernels.so")
            rlib = remote.load_module("sepnet_kernels.so")
            remote.upload(os.path.join(path, LIB_NAME), LIB_NAME)
            model = remote.load_module(LIB_NAME)
        except Exception as err:  # noqa: BLE001 - TVM raises plain errors
            raise DeployError(f"device {where} could not load the kernels of {path!r}: {err}") from None
        per_call = {}
        for name, func in funcs.items():
            args = [_tensor(a, dev) for a in _kernel_args(func, rng)]
            try:
                per_call[name] = 1e3 * float(rlib.time_evaluator(name, dev, number=1, repeat=repeat)(*args).median)
            except Exception as err:  # noqa: BLE001
                raise DeployError(f"device {where} failed while timing kernel {name!r}: {err}") from None
        try:
            vm = relax.VirtualMachine(model, dev)
            ref = ReferenceExecutor.load(os.path.join(path, GRAPH_JSON), os.path.join(path, GRAPH_NPZ))
            if inputs is None:
                inputs = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in ref.input_specs}
            inputs = ref.check_inputs(inputs)
            margs = [_tensor(inputs[s["name"]], dev) for s in ref.input_specs]
            total = 1e3 * float(vm.time_evaluator("main", dev, number=1, repeat=repeat)(*margs).median)
        except SepnetError:
            raise
        except Exception as err:  # noqa: BLE001
            raise DeployError(f"device {where} failed while timing the model: {err}") from None
    layers = {layer: sum(per_call[k] for k in ks) for layer, ks in kernels["layers"].items()}
    return {"layers": layers, "kernels": per_call, "total_ms": total, "device": where, "device_info": info}


__all__ = ["remote_layer_times"]
