"""Per-layer kernel benchmarks on the SEP-Net layer shapes (plus the classic 64->64 3x3 at 56x56).

Each layer is built alone (float32 in, float32 out: its kernel quantizes its input itself), so this
is a kernel comparison; :mod:`.model_layers` gives each layer's time inside the model (its dataflow).
Binary (k×k) layers: tvm-sepnet (the kernel chosen by cost for A-bit activations) vs stock TVM
topi ``bitserial_conv2d_nchw`` built with ``tvm.compile`` untuned (topi has no groups: a grouped layer
runs as ``groups`` convolutions of one group, time × groups; out_dtype int32) vs fp32 conv (onnxruntime
and plain TVM) vs onnxruntime int8 ``QLinearConv``. Int8 1×1 layers: tvm-sepnet (quantize + int8 conv)
vs the same float and int8 baselines. Every number is the median of repeated runs in this process.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import tvm
from tvm import relax, te, topi

import tvm_sepnet
from tvm_sepnet.models import get_model
from tvm_sepnet.targets import get_target

from .model_layers import peak_of
from .timing import median_seconds, ort_session


@dataclass(frozen=True)
class ConvShape:
    name: str
    c: int
    h: int
    w: int
    o: int
    k: int
    stride: int
    pad: int
    groups: int
    count: int = 1  # how many layers of the network have this shape

    @property
    def macs(self) -> int:
        ho = (self.h + 2 * self.pad - self.k) // self.stride + 1
        wo = (self.w + 2 * self.pad - self.k) // self.stride + 1
        return ho * wo * self.o * (self.c // self.groups) * self.k * self.k

    @property
    def label(self) -> str:
        return f"{self.c}->{self.o} {self.k}x{self.k} g{self.groups} s{self.stride} @{self.h}"


def sepnet_shapes(image_size: int = 224) -> list[ConvShape]:
    """Distinct conv shapes of sepnet-r (first conv excluded) with their multiplicity, plus 64->64 3x3."""

    net = get_model("sepnet-r", image_size=image_size, seed=None)
    shapes = net.shapes()
    seen: dict = {}
    first = True
    for node in net.nodes:
        if node.op != "conv2d":
            continue
        if first:
            first = False
            continue
        n, c, h, w = shapes[node.inputs[0]]
        a = node.attrs
        key = (c, h, w, a["channels"], a["kernel"][0], a["strides"][0], a["padding"][0], a["groups"])
        if key in seen:
            seen[key] = ConvShape(**{**asdict(seen[key]), "count": seen[key].count + 1})
        else:
            seen[key] = ConvShape(node.name, *key)
    out = list(seen.values())
    size = max(8, image_size // 4)
    out.append(ConvShape("classic_3x3_64", 64, size, size, 64, 3, 1, 1, 1))
    return out


def _conv_module(s: ConvShape, w: np.ndarray):

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, s.c, s.h, s.w), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(w), strides=s.stride, padding=s.pad, groups=s.groups),
                        name_hint=s.name.replace(".", "_"))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def _onnx_conv(s: ConvShape, w: np.ndarray):
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], group=s.groups, pads=[s.pad] * 4, strides=[s.stride] * 2)
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, s.c, s.h, s.w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _onnx_qlinearconv(s: ConvShape, w: np.ndarray):
    from onnx import TensorProto, helper, numpy_helper

    ws = (np.abs(w).reshape(s.o, -1).max(axis=1) / 127).astype(np.float32)
    wq = np.clip(np.rint(w / ws.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (np.array(0.02, np.float32), "xs"), (np.array(0, np.uint8), "xz"), (wq, "wq"), (ws, "ws"),
        (np.zeros(s.o, np.int8), "wz"), (np.array(0.05, np.float32), "ys"), (np.array(0, np.uint8), "yz")]]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["y"], group=s.groups,
                            pads=[s.pad] * 4, strides=[s.stride] * 2)
    g = helper.make_graph([node], "qconv", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, s.c, s.h, s.w])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _stock_bitserial_seconds(s: ConvShape, act_bits: int, runs: int) -> float:
    """Stock TVM topi bitserial conv (untuned, tvm.compile), one group's conv × groups."""


    cg, og = s.c // s.groups, s.o // s.groups
    pack = "uint32" if cg % 32 == 0 else "uint8"
    data = te.placeholder((1, cg, s.h, s.w), "uint8", name="data")
    kernel = te.placeholder((og, cg, s.k, s.k), "uint8", name="kernel")
    out = topi.nn.bitserial_conv2d_nchw(data, kernel, s.stride, s.pad, act_bits, 1, pack, "int32", True)
    func = te.create_prim_func([data, kernel, out])
    ex = tvm.compile(tvm.IRModule({"main": func}), target=get_target("x86").tvm_target())
    rng = np.random.default_rng(0)
    args = [tvm.runtime.tensor(rng.integers(0, 1 << act_bits, (1, cg, s.h, s.w)).astype("uint8")),
            tvm.runtime.tensor(rng.integers(0, 2, (og, cg, s.k, s.k)).astype("uint8")),
            tvm.runtime.empty([int(v) for v in out.shape], "int32", tvm.cpu())]
    timer = ex.mod.time_evaluator("main", tvm.cpu(), number=1, repeat=runs, min_repeat_ms=20)
    return float(timer(*args).median) * s.groups


def _plain_tvm_fp32_seconds(s: ConvShape, w: np.ndarray, x: np.ndarray, runs: int) -> float:


    target = get_target("x86").tvm_target()
    ex = tvm.compile(_conv_module(s, w), target=target, relax_pipeline=relax.get_default_pipeline(target))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return float(vm.time_evaluator("main", tvm.cpu(), number=1, repeat=runs, min_repeat_ms=20)(
        tvm.runtime.tensor(x)).median)


def bench_layer(s: ConvShape, *, act_bits_list=(1, 2, 4), runs: int = 20, threads: int = 2,
                plain_tvm: bool = True) -> dict:
    """Latencies (ms) of one conv shape: ours and every baseline."""

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((s.o, s.c // s.groups, s.k, s.k)) * 0.1).astype(np.float32)
    x = np.abs(rng.standard_normal((1, s.c, s.h, s.w))).astype(np.float32)
    row = {"layer": s.name, "shape": s.label, "count": s.count, "macs": s.macs, "kxk": s.k > 1}
    mod = _conv_module(s, w)
    if s.k > 1:
        for bits in act_bits_list:
            art = tvm_sepnet.build(mod, "x86", kxk="binary", pointwise="int8", act_bits=bits, keep_first=False)
            row[f"ours_a{bits}_ms"] = 1e3 * _art_seconds(art, x, runs)
            row[f"ours_a{bits}_kernel"] = art.layers[0]["kernel"]
            row[f"stock_topi_a{bits}_ms"] = 1e3 * _stock_bitserial_seconds(s, bits, runs)
    else:
        art = tvm_sepnet.build(mod, "x86", kxk="binary", pointwise="int8", act_bits=8)
        row["ours_int8_ms"] = 1e3 * _art_seconds(art, x, runs)
        row["ours_int8_kernel"] = art.layers[0]["kernel"]
    sess = ort_session(_onnx_conv(s, w), threads)
    row["ort_fp32_ms"] = 1e3 * median_seconds(lambda: sess.run(None, {"x": x}), runs)
    qsess = ort_session(_onnx_qlinearconv(s, w), threads)
    xq = np.clip(np.rint(x / 0.02), 0, 255).astype(np.uint8)
    row["ort_int8_ms"] = 1e3 * median_seconds(lambda: qsess.run(None, {"x": xq}), runs)
    if plain_tvm:
        row["plain_tvm_fp32_ms"] = 1e3 * _plain_tvm_fp32_seconds(s, w, x, runs)
    return row


def _art_seconds(art, x, runs: int) -> float:

    args = [tvm.runtime.tensor(x)]
    return float(art.vm.time_evaluator("main", tvm.cpu(), number=1, repeat=runs, min_repeat_ms=20)(*args).median)


def add_rates(row: dict, peaks: dict) -> dict:
    """GMAC/s of ours and its share of the peak of the instruction its kernel runs on
    (:func:`.model_layers.peak_of`: binary layers on popcount count A bit-plane MACs per MAC)."""
    macs = row["macs"]
    for key in list(row):
        if key.startswith("ours_") and key.endswith("_ms"):
            sec = row[key] / 1e3
            tag = key[len("ours_"):-len("_ms")]
            row[f"ours_{tag}_gmacs"] = macs / sec / 1e9
            unit, peak, per_mac = peak_of(str(row.get(f"ours_{tag}_kernel", "")), peaks)
            row[f"ours_{tag}_instruction"] = unit
            row[f"ours_{tag}_pct_peak"] = 100 * macs * per_mac / sec / peak if peak else None
    return row
