"""ChooseKxkKernels: pick, per binary k×k layer with A-bit activations, the kernel that runs it, by cost.

Two kernels compute the same integers (``acc = sum_c q * B``, docs/numerics.md):

* ``bitserial``: AND + popcount over A bit planes: cost grows with A (``A * MACs / popcount rate``);
* ``int8``: the A-bit activations as uint8 codes times the ±1 weights as int8 (1 bit per weight in the
  model; the kernel-ready constant holds one byte per weight), run by the host's dot-product kernel
  (``dot_conv2d``: VNNI ``vpdpbusd``, ``vpmaddubsw``, ``sdot``): cost flat in A (``MACs / dot rate``).

``mode="model"`` compares the two costs with the effective rates of our kernels on the target's
instruction set (:data:`POPCOUNT_RATES`, :data:`DOT_RATES`: measured on the project's hosts,
docs/measurements.md "Kernel choice"; ``rates`` overrides them); ``mode="measure"`` compiles both kernels
for each distinct layer shape and times them here (a second or two per shape); ``mode="bitserial"`` /
``"int8"`` force one; ``forced`` ({layer: impl}, per-layer rules) sets the kernel of the layers it names
whatever the mode. The choice goes to the layer's ``impl`` attribute, the costs behind it to
``impl_reason``; ``tvm-sepnet inspect`` shows both.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.dot_conv2d.kernel import choose_isa
from tvm_sepnet.ops import make_conv
from tvm_sepnet.targets import get_target

from .lower_to_kernels import LowerToKernels
from .target_pipeline import build_pipeline
from .utils import BindingRewriter, module_pass

# Effective rates of our kernels inside the model, per core (docs/measurements.md, "Kernel choice"):
# binary MACs per second per bit plane of the bitserial kernel, by popcount instruction, and MACs per
# second of the dot kernel on ±1 weights, by dot ISA. A bitserial layer costs more than its kernel: it
# reads bit planes a packing stage writes and runs its pattern block's 1×1 sibling as a separate kernel,
# where the dot kernel reads its producer's 8-bit words and computes both branches in one pass (the
# integer dataflow). Measured on sepnet-bq 224 (1 thread, CPU time, Zen 4): the bitserial k×k kernel
# alone 261-276 G bit-MAC/s, the fused dot block 160-175 G MAC/s, and the whole model 5.5 ms with
# bitserial at A=1 vs 4.5 ms with dot: the bitserial rate below is the kernel's discounted by what
# the break costs (x0.4). AVX2 rates are scaled from these by the same factors (no AVX2-only host);
# the NEON rates come from the Cortex-A72 static model (tvm-sepnet estimate): int8 ahead at A=4.
POPCOUNT_RATES = {"avx512_vpopcntdq": 120e9, "avx2": 60e9, "neon": 50e9}
DOT_RATES = {"vnni512": 170e9, "ubsw512": 140e9, "ubsw256": 75e9, "generic512": 60e9, "generic256": 50e9,
             "sdot": 40e9, "generic128": 15e9}


def popcount_unit(preset) -> str:
    """The popcount instruction the bitserial kernel gets on ``preset``."""
    if preset.machine in ("aarch64", "armv7l"):
        return "neon"
    return "avx512_vpopcntdq" if "avx512_vpopcntdq" in preset.features else "avx2"


def layer_macs(attrs, out_shape) -> int:
    n, o, ho, wo = out_shape
    kh, kw = attrs.kernel
    return n * o * ho * wo * attrs.channels_per_group * kh * kw


def modelled_choice(bits: int, macs: int, preset, rates=None) -> tuple[str, str]:
    """(``bitserial`` or ``int8``, the reason: both estimated costs and the rates) by the cost model."""
    rates = rates or {}
    unit = popcount_unit(preset)
    isa = choose_isa(preset.features, preset.machine or "x86_64", True)
    pop = float(rates.get("bitserial", POPCOUNT_RATES[unit]))
    dot = float(rates.get("int8", DOT_RATES[isa]))
    t_bits, t_dot = bits * macs / pop, macs / dot
    impl = "bitserial" if t_bits < t_dot else "int8"  # a tie goes to the dot kernel: it keeps the dataflow
    reason = (f"model: bitserial {bits} planes x {macs / 1e6:.1f} M MAC at {pop / 1e9:.0f} G/s ({unit}) = {t_bits * 1e3:.3f} ms; "
              f"{isa} dot at {dot / 1e9:.0f} G MAC/s = {t_dot * 1e3:.3f} ms")
    return impl, reason


@mutator
class _Chooser(BindingRewriter):
    def __init__(self, mod, mode, rates, target, timer, forced):
        super().__init__(mod)
        self.forced = forced
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
        x_shape = tuple(int(v) for v in conv.x.ty.shape)
        if a.name in self.forced:
            impl, reason = self.forced[a.name], f"set by a layer rule: {self.forced[a.name]}"
        elif self.mode in ("bitserial", "int8"):
            impl, reason = self.mode, f"forced: kernel_choice={self.mode}"
        elif self.mode == "model":
            impl, reason = modelled_choice(bits, layer_macs(a, a.out_shape(x_shape)), self.target, self.rates)
        else:
            key = (x_shape, a.replace(name="", relu=False).to_json(), bits)
            if key not in self.cache:
                times = {impl: self.timer(conv, impl, self.target) for impl in ("bitserial", "int8")}
                best = min(times, key=times.get)
                self.cache[key] = (best, "measured: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in times.items()))
            impl, reason = self.cache[key]
        return conv.rebuild(attrs=a.replace(impl=impl, impl_reason=reason))


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

    def __init__(self, mode: str = "model", rates=None, target="x86", forced=None):
        if mode not in ("model", "measure", "bitserial", "int8"):
            raise ValueError(f"kernel choice must be model, measure, bitserial or int8, got {mode!r}")
        self.mode = mode
        self.rates = dict(rates or {})
        self.target = get_target(target)
        self.forced = dict(forced or {})
        bad = {k: v for k, v in self.forced.items() if v not in ("bitserial", "int8")}
        if bad:
            raise ValueError(f"forced kernels must be bitserial or int8, got {bad}")

    def rewrite_module(self, mod):
        return _Chooser(mod, self.mode, self.rates, self.target, time_layer_kernel, self.forced).run()
