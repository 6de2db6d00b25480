"""FenceMultiplyAdd: keep LLVM from contracting a float32 ``multiply`` into the ``add`` that uses it.

TVM's LLVM backend contracts ``a * b + c`` into one fused multiply-add (one rounding instead of two)
whenever the target has FMA and the two ops land in one kernel, which FuseOps arranges for elementwise
chains (``HardSigmoid``'s ``alpha * x + beta``, a layer scale followed by a residual add). The reference
executor rounds the product first, as ONNX defines it. Matches ``add`` / ``subtract`` on float32 whose
operand is a float32 ``multiply``; emits that operand as ``fence(a * b)`` (a TE function:
``llvm.arithmetic.fence`` around the broadcasting product), which FuseOps still fuses with the add, so
TVM rounds the product as the reference does (docs/numerics.md, "Float ops").
"""
from __future__ import annotations

from tvm import relax, te, tirx, topi
from tvm.relax.expr_functor import mutator

from .utils import BindingRewriter, is_float32, module_pass, op_name

_F32 = "float32"


def fenced_multiply(a: te.Tensor, b: te.Tensor) -> te.Tensor:
    """``a * b`` (broadcasting), each product behind an ``llvm.arithmetic.fence``."""
    prod = topi.multiply(a, b)
    return te.compute(prod.shape, lambda *i: tirx.call_llvm_pure_intrin(_F32, "llvm.arithmetic.fence", prod(*i)),
                      name="fenced_multiply")


@mutator
class _Fencer(BindingRewriter):
    def rewrite_call(self, call, var):
        if op_name(call) not in ("relax.add", "relax.subtract") or not is_float32(call):
            return None
        args, changed = [], False
        for arg in call.args:
            product = self.value_of(arg)
            if op_name(product) == "relax.multiply" and is_float32(product):
                arg = self.builder_.emit(self.builder_.call_te(fenced_multiply, *product.args,
                                                               primfunc_name_hint="fenced_multiply"))
                changed = True
            args.append(arg)
        return relax.Call(call.op, args, call.attrs, call.ty_args) if changed else None


@module_pass("FenceMultiplyAdd")
class FenceMultiplyAdd:
    """Round float32 products that feed an add or subtract before the add (no FMA contraction)."""

    def rewrite_module(self, mod):
        return _Fencer(mod).run()
