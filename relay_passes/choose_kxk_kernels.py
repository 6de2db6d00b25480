"""ChooseKxkKernels: pick, per binary k×k layer with A-bit activations, the kernel that runs it.

Two kernels compute the same integers (``acc = sum_c q * B``, docs/numerics.md):

* ``bitserial``: AND + popcount over A bit planes: cost grows with A;
* ``int8``: the A-bit activations as uint8 times the ±1 weights expanded to int8 (1 bit per weight in
  the model; the kernel-ready constant holds one byte per weight), run by the int8 conv kernel.

``mode="model"`` compares ``A * MACs / bitserial_rate`` (bit-plane MACs/s) with ``MACs / int8_rate``
(MAC/s; the int8 kernel's rate drops on small feature maps, below ``small_pixels`` output pixels),
effective rates of our x86 kernels measured on this project's machine (override them per machine);
``mode="measure"``
compiles both kernels for each distinct layer shape and times them (a second or two per shape);
``mode="bitserial"`` / ``"int8"`` force one. The choice is written to the layer's ``impl`` attribute
and reported by ``tvm-sepnet inspect``.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import mutator

from tvm_sepnet.ops import make_conv
from tvm_sepnet.targets import get_target

from .lower_to_kernels import LowerToKernels
from .target_pipeline import build_pipeline
from .utils import BindingRewriter, module_pass

# Effective rates of our kernels (2 threads) on the SEP-Net 3×3 g4 shapes, from mode="measure" timings
# (docs/measurements.md, "Kernel choice"): bit-plane MAC/s of the bitserial kernel, MAC/s of the int8 kernel.
DEFAULT_RATES = {"bitserial": 150e9, "int8": 35e9, "int8_small": 8e9, "small_pixels": 28 * 28}


def layer_macs(attrs, out_shape) -> int:
    n, o, ho, wo = out_shape
    kh, kw = attrs.kernel
    return n * o * ho * wo * attrs.channels_per_group * kh * kw


def modelled_choice(bits: int, out_pixels: int, rates: dict) -> str:
    """'bitserial' or 'int8' by the cost model (MACs cancel out)."""
    int8_rate = rates["int8"] if out_pixels >= rates["small_pixels"] else rates["int8_small"]
    return "bitserial" if bits / rates["bitserial"] <= 1.0 / int8_rate else "int8"


@mutator
class _Chooser(BindingRewriter):
    def __init__(self, mod, mode, rates, target, timer):
        super().__init__(mod)
        self.mode, self.rates, self.target, self.timer = mode, rates, target, timer
        self.cache: dict = {}

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a = conv.attrs
        if a.weight_format != "binary" or a.act.get("kind") != "uint":
            return None
        bits = int(a.act["bits"])
        if self.mode in ("bitserial", "int8"):
            impl = self.mode
        elif self.mode == "model":
            _, _, ho, wo = a.out_shape([int(v) for v in conv.x.ty.shape])
            impl = modelled_choice(bits, ho * wo, self.rates)
        else:
            x_shape = tuple(int(v) for v in conv.x.ty.shape)
            key = (x_shape, a.replace(name="", relu=False).to_json(), bits)
            if key not in self.cache:
                times = {impl: self.timer(conv, impl, self.target) for impl in ("bitserial", "int8")}
                self.cache[key] = min(times, key=times.get)
            impl = self.cache[key]
        return conv.rebuild(attrs=a.replace(impl=impl))


def time_layer_kernel(conv, impl: str, target) -> float:
    """Seconds per run of one layer lowered with ``impl`` (median of a short time_evaluator run)."""
    x_shape = tuple(int(v) for v in conv.x.ty.shape)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(x_shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(make_conv(x, conv.w, conv.w_scale, conv.bias, conv.attrs.replace(impl=impl)))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    mod = LowerToKernels(target)(bb.get())
    tvm_target = target.tvm_target()
    ex = tvm.compile(mod, target=tvm_target, relax_pipeline=build_pipeline(target))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    arg = tvm.runtime.tensor(np.abs(np.random.default_rng(0).standard_normal(x_shape)).astype("float32"))
    return float(vm.time_evaluator("main", tvm.cpu(), number=3, repeat=5)(arg).median)


@module_pass("ChooseKxkKernels")
class ChooseKxkKernels:
    """Choose bitserial or int8 for every binary conv layer with quantized activations."""

    def __init__(self, mode: str = "model", rates=None, target="x86"):
        if mode not in ("model", "measure", "bitserial", "int8"):
            raise ValueError(f"kernel choice must be model, measure, bitserial or int8, got {mode!r}")
        self.mode = mode
        self.rates = dict(DEFAULT_RATES, **(rates or {}))
        self.target = get_target(target)

    def rewrite_module(self, mod):
        return _Chooser(mod, self.mode, self.rates, self.target, time_layer_kernel).run()
