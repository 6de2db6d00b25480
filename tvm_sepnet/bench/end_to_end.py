"""End-to-end latency of SEP-Net: tvm-sepnet's sepnet-bq (several activation widths) vs the same float
network in onnxruntime fp32, onnxruntime int8 (static QDQ, per-channel weights, calibrated on the same
synthetic inputs) and plain ``tvm.compile`` (Relax default pipeline, untuned)."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import tvm
from tvm import relax

import tvm_sepnet
from tvm_sepnet.models import default_config, get_model, to_onnx, to_relax
from tvm_sepnet.targets import get_target

from .model_layers import fused_layers
from .timing import median_seconds, ort_session


def _ort_int8_model(model, x_samples):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{model.graph.input[0].name: s} for s in x_samples])

        def get_next(self):
            return next(self.it, None)

    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        raw, src, dst = (os.path.join(tmp, n) for n in ("raw.onnx", "f.onnx", "q.onnx"))
        onnx.save(model, raw)
        quant_pre_process(raw, src)  # onnxruntime's recommended preprocessing: folds BN, infers shapes
        quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return onnx.load(dst)


def bench_end_to_end(*, image_size: int = 224, act_bits_list=(1, 2, 4), runs: int = 20, threads: int = 2,
                     plain_tvm: bool = True, rounds: int = 5, previous: bool = True) -> dict:
    """Median latencies (ms) and ratios to onnxruntime fp32 / int8 of sepnet-bq at each activation width
    (the default build: integer dataflow, kernels chosen by cost) and, with ``previous``, of the previous
    release's build (float32 between layers, float skip connections, bitserial k×k) at the default width.

    Timed in blocks of ``runs`` runs per engine, engines in turn, ``rounds`` rounds, medians over rounds
    (docs/measurements.md: two thread pools timed run by run wait on each other's spinning threads)."""
    net = get_model("sepnet-r", image_size=image_size)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(net.input_shape).astype(np.float32)
    default_bits = default_config("sepnet-bq")["act_bits"]
    res = {"image_size": image_size, "threads": threads, "default_act_bits": default_bits, "rounds": rounds}
    mod = to_relax(net)
    engines = {}
    args = [tvm.runtime.tensor(x)]
    for bits in act_bits_list:
        art = tvm_sepnet.build(mod, "x86", kxk="binary", pointwise="int8", act_bits=bits)
        fused = fused_layers(art.layers)  # a fused k×k layer has no kernel of its own
        res[f"sepnet_bq_a{bits}_kernels"] = sorted({str(r["kernel"]).split("/")[0] for r in art.layers
                                                    if r["kind"] != "other" and r["name"] not in fused})
        engines[f"sepnet_bq_a{bits}_ms"] = _tvm_block(art.vm, args, runs)
    if previous:
        art = tvm_sepnet.build(mod, "x86", kxk="binary", pointwise="int8", act_bits=default_bits, dataflow="float",
                               skip_connections="float", kernel_choice="bitserial")
        engines[f"previous_release_a{default_bits}_ms"] = _tvm_block(art.vm, args, runs)
    onnx_model = to_onnx(net)
    sess = ort_session(onnx_model, threads)
    name = onnx_model.graph.input[0].name
    engines["ort_fp32_ms"] = lambda: median_seconds(lambda: sess.run(None, {name: x}), runs)
    qmodel = _ort_int8_model(onnx_model, [rng.standard_normal(net.input_shape).astype(np.float32) for _ in range(4)])
    qsess = ort_session(qmodel, threads)
    qname = qmodel.graph.input[0].name
    engines["ort_int8_qdq_ms"] = lambda: median_seconds(lambda: qsess.run(None, {qname: x}), runs)
    if plain_tvm:
        target = get_target("x86").tvm_target()
        ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
        engines["plain_tvm_fp32_ms"] = _tvm_block(relax.VirtualMachine(ex, tvm.cpu()), args, max(3, runs // 4))
    samples = {k: [] for k in engines}
    for _ in range(rounds):
        for key, block in engines.items():
            samples[key].append(1e3 * block())
            time.sleep(0.2)  # the other engine's threads stop spinning
    for key, values in samples.items():
        res[key] = float(np.median(values))
        res[key.replace("_ms", "_rounds_ms")] = [round(v, 4) for v in values]
    for bits in act_bits_list:
        ours = res[f"sepnet_bq_a{bits}_ms"]
        res[f"ratio_a{bits}_vs_ort_fp32"] = ours / res["ort_fp32_ms"]
        res[f"ratio_a{bits}_vs_ort_int8"] = ours / res["ort_int8_qdq_ms"]
    if previous:
        res["speedup_vs_previous_release"] = res[f"previous_release_a{default_bits}_ms"] / res[f"sepnet_bq_a{default_bits}_ms"]
    return res


def _tvm_block(vm, args, runs: int):
    """A block of ``runs`` timed runs (TVM's time_evaluator, median) after its own warm-up."""
    timer = vm.time_evaluator("main", tvm.cpu(), number=1, repeat=runs, min_repeat_ms=20)
    return lambda: float(timer(*args).median)
