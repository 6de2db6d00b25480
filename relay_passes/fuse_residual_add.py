"""FuseResidualAdd: fold ``add(conv(x), r)`` into the conv layer's epilogue.

Matches ``relax.add(a, b)`` where one operand is a ``sepnet.conv2d`` with quantized activations
(an integer kernel), no ReLU and no residual yet, used only by the add, and the other operand is a
float32 tensor of the same shape. Emits the conv with ``residual=True`` and the other operand as its
residual: ``out = epilogue(acc) + r``; a following ``relu`` is then folded by :class:`FuseReLU`
(``relu`` of a residual layer applies after the add). This is the pattern residual block's
``kxk + pointwise`` add and the SEP module's identity skip: each becomes part of the kernel that
computes the second operand, instead of a separate elementwise kernel.

When both operands qualify, the conv in the second operand takes the first as its residual.
Numerics are unchanged: the kernel adds the same two float32 values the separate add did (an
``llvm.arithmetic.fence`` keeps the epilogue's multiply from contracting into the add; tests compare
fused and unfused builds bit for bit, and every fused layer with the reference executor).
"""
from __future__ import annotations

from tvm import relax
from tvm.relax.expr_functor import mutator

from .utils import BindingRewriter, module_pass, op_name


def _same_tensor_type(a, b) -> bool:
    ta, tb = a.ty, b.ty
    if not (isinstance(ta, relax.TensorType) and isinstance(tb, relax.TensorType)):
        return False
    if ta.shape is None or tb.shape is None or str(ta.dtype) != "float32" or str(tb.dtype) != "float32":
        return False
    return [int(v) for v in ta.shape] == [int(v) for v in tb.shape]


@mutator
class _ResidualFuser(BindingRewriter):
    def _fusable(self, operand):
        conv = self.conv_of(operand)
        if conv is None or not isinstance(operand, relax.Var) or not self.single_use(operand):
            return None
        a = conv.attrs
        if a.relu or a.residual or a.act.get("kind") == "float":
            return None
        return conv

    def rewrite_call(self, call, var):
        if op_name(call) != "relax.add" or len(call.args) != 2:
            return None
        lhs, rhs = call.args
        if not _same_tensor_type(lhs, rhs) or not _same_tensor_type(lhs, var):
            return None
        for operand, other in ((rhs, lhs), (lhs, rhs)):
            conv = self._fusable(operand)
            if conv is not None:
                return conv.rebuild(attrs=conv.attrs.replace(residual=True), residual=other)
        return None


@module_pass("FuseResidualAdd")
class FuseResidualAdd:
    """Fuse single-use integer conv → add pairs into the conv layer (see the module docstring)."""

    def rewrite_module(self, mod):
        return _ResidualFuser(mod).run()
