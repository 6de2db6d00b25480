"""End-to-end latency of SEP-Net: tvm-sepnet's sepnet-bq (several activation widths) vs the same float
network in onnxruntime fp32, onnxruntime int8 (static QDQ, per-channel weights, calibrated on the same
synthetic inputs) and plain ``tvm.compile`` (Relax default pipeline, untuned)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import tvm
from tvm import relax

import tvm_sepnet
from tvm_sepnet.models import default_config, get_model, to_onnx, to_relax
from tvm_sepnet.targets import get_target

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
                     plain_tvm: bool = True) -> dict:
    """Median latencies (ms) and ratios to onnxruntime fp32 / int8."""


    net = get_model("sepnet-r", image_size=image_size)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(net.input_shape).astype(np.float32)
    res = {"image_size": image_size, "threads": threads, "default_act_bits": default_config("sepnet-bq")["act_bits"]}
    mod = to_relax(net)
    for bits in act_bits_list:
        art = tvm_sepnet.build(mod, "x86", kxk="binary", pointwise="int8", act_bits=bits)
        args = [tvm.runtime.tensor(x)]
        res[f"sepnet_bq_a{bits}_ms"] = 1e3 * float(art.vm.time_evaluator(
            "main", tvm.cpu(), number=1, repeat=runs, min_repeat_ms=50)(*args).median)
    onnx_model = to_onnx(net)
    sess = ort_session(onnx_model, threads)
    res["ort_fp32_ms"] = 1e3 * median_seconds(lambda: sess.run(None, {onnx_model.graph.input[0].name: x}), runs)
    qmodel = _ort_int8_model(onnx_model, [rng.standard_normal(net.input_shape).astype(np.float32) for _ in range(4)])
    qsess = ort_session(qmodel, threads)
    res["ort_int8_qdq_ms"] = 1e3 * median_seconds(lambda: qsess.run(None, {qmodel.graph.input[0].name: x}), runs)
    if plain_tvm:
        target = get_target("x86").tvm_target()
        ex = tvm.compile(mod, target=target, relax_pipeline=relax.get_default_pipeline(target))
        vm = relax.VirtualMachine(ex, tvm.cpu())
        res["plain_tvm_fp32_ms"] = 1e3 * float(vm.time_evaluator("main", tvm.cpu(), number=1, repeat=max(3, runs // 4))(
            tvm.runtime.tensor(x)).median)
    for bits in act_bits_list:
        ours = res[f"sepnet_bq_a{bits}_ms"]
        res[f"ratio_a{bits}_vs_ort_fp32"] = ours / res["ort_fp32_ms"]
        res[f"ratio_a{bits}_vs_ort_int8"] = ours / res["ort_int8_qdq_ms"]
    return res
