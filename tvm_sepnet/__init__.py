"""tvm-sepnet: compile pattern networks (SEP-Nets) to bitserial and int8 kernels with Apache TVM.

Public API (imported lazily, so that ``tvm_sepnet.reference`` stays numpy-only)::

    tvm_sepnet.build(mod, target="x86", params=None, **options) -> Artifact   # our relay.build
    tvm_sepnet.load(path) -> Artifact
    tvm_sepnet.tune(model, target, trials, work_dir)          # autotuning (tvm_sepnet.autotune)
    tvm_sepnet.models.get_model(name) / tvm_sepnet.models.to_relax(net)
    tvm_sepnet.frontend.load_model(zoo name or .onnx path)
"""
import os
from importlib import import_module

# TVM's CPU thread pool halves the reported core count on x86 (to skip hyper-threads), so a 2-vCPU
# machine runs every parallel kernel on one thread. Use all cores unless the user says otherwise;
# this must happen before the TVM runtime starts its pool.
os.environ.setdefault("TVM_NUM_THREADS",
                      str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))

__version__ = "0.1.0"

_LAZY = {
    "build": ("tvm_sepnet.builder", "build"),
    "load": ("tvm_sepnet.artifact", "load"),
    "Artifact": ("tvm_sepnet.artifact", "Artifact"),
    "quantize_model": ("tvm_sepnet.builder", "quantize_model"),
    "tune": ("tvm_sepnet.autotune", "tune"),
    "get_target": ("tvm_sepnet.targets", "get_target"),
    "known_targets": ("tvm_sepnet.targets", "known_targets"),
    "load_model": ("tvm_sepnet.frontend", "load_model"),
    "ReferenceExecutor": ("tvm_sepnet.reference", "ReferenceExecutor"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'tvm_sepnet' has no attribute {name!r}")


__all__ = list(_LAZY) + ["__version__"]
