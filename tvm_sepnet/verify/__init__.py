"""Oracles that share no code with the compiler they check (docs/checks.md).

:mod:`.ort_twin` writes a fake-quantized ONNX twin of an exported quantized graph from the numerics
contract alone (:mod:`.contract`); :mod:`.twin_check` runs it in onnxruntime against a compiled model,
layer by layer, within per-element bounds derived from the quantization step (:mod:`.bounds`).
Nothing here imports ``schedules``, ``relay_passes``, the builder or TVM.
"""
from .ort_twin import Twin, build_twin, load_graph, run_twin
from .twin_check import check_artifact, check_with_twin, free_running_error

__all__ = ["Twin", "build_twin", "check_artifact", "check_with_twin", "free_running_error", "load_graph", "run_twin"]
