"""PromoteToFloat64: compute the float ops of ``FLOAT64_OPS`` in float64 and round their results once.

Matches calls of the Relax ops of :data:`tvm_sepnet.reference_ops.FLOAT64_OPS` (reductions, normalizations,
transcendental functions, matmul, einsum, average pooling, resize) whose result is float32. Emits
``astype(op(astype(args, float64)), float32)`` (each float32 tensor argument cast, a tuple of them field
by field, constants at compile time; a tuple result, batch norm's, cast field by field). The reference
executor computes these ops the same way, so their float32 results agree bit for bit with it (stock TVM
sums and evaluates them in float32, in an order of its own, and a quantizer downstream would see a
different value now and then; docs/numerics.md, "Float ops").
Relax's FuseOps fuses the casts into the op's kernel.
"""
from __future__ import annotations

from tvm import relax
from tvm.relax.expr_functor import mutator

from tvm_sepnet.reference_ops import FLOAT64_OPS

from .utils import BindingRewriter, const_value, is_float32, module_pass, op_name

_F32, _F64 = "float32", "float64"


@mutator
class _Promoter(BindingRewriter):
    def rewrite_call(self, call, var):
        name = op_name(call)
        if name is None or name[len("relax."):] not in FLOAT64_OPS:
            return None
        ty = call.ty
        fields = ty.fields if isinstance(ty, relax.TupleType) else [ty]
        if not all(isinstance(f, relax.TensorType) and str(f.dtype) == _F32 for f in fields):
            return None
        args = [self._widen_arg(a) for a in call.args]
        if name == "relax.nn.layer_norm":  # TVM's layer_norm is float32/float16 only: its formula, in float64
            return relax.op.astype(self._layer_norm(*args, call.attrs), _F32)
        wide = self.builder_.emit(relax.Call(call.op, args, call.attrs, call.ty_args))
        if isinstance(ty, relax.TupleType):
            return relax.Tuple([self.builder_.emit(relax.op.astype(relax.TupleGetItem(wide, i), _F32))
                                for i in range(len(fields))])
        return relax.op.astype(wide, _F32)

    def _layer_norm(self, x, gamma, beta, attrs):
        """``(x - mean) / sqrt(var + eps) * gamma + beta`` over ``attrs.axes`` (the reference's formula)."""
        emit, axes = self.builder_.emit, [int(a) for a in attrs.axes]
        d = emit(relax.op.subtract(x, emit(relax.op.mean(x, axes, keepdims=True))))
        var = emit(relax.op.mean(emit(relax.op.multiply(d, d)), axes, keepdims=True))
        eps = relax.const(float(attrs.epsilon), _F64)
        y = emit(relax.op.divide(d, emit(relax.op.sqrt(emit(relax.op.add(var, eps))))))
        if bool(attrs.scale):
            y = emit(relax.op.multiply(y, gamma))
        return relax.op.add(y, beta) if bool(attrs.center) else y

    def _widen_arg(self, arg):
        """A float32 argument widened; a tuple argument (einsum's operands) widened field by field."""
        if isinstance(arg, relax.Tuple):
            return relax.Tuple([self._widen_arg(f) for f in arg.fields])
        return self._widen(arg) if is_float32(arg) else arg

    def _widen(self, expr):
        """``expr`` as float64: a constant is converted once, here; a tensor by an ``astype``."""
        value = const_value(expr)
        if value is not None:
            return relax.const(value.astype("float64"), _F64)  # (relax.const narrows float64 arrays by default)
        return self.builder_.emit(relax.op.astype(expr, _F64))


@module_pass("PromoteToFloat64")
class PromoteToFloat64:
    """Compute the ops of ``FLOAT64_OPS`` in float64, rounding their float32 results once."""

    def rewrite_module(self, mod):
        return _Promoter(mod).run()
