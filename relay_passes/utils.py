"""Helpers shared by the graph passes: binding lookups, use counts and the rewrite driver."""
from __future__ import annotations

from collections import Counter

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator

from tvm_sepnet.ops import parse_conv


def const_value(expr) -> np.ndarray | None:
    """The numpy value of a relax constant, else None."""
    if isinstance(expr, tvm.ir.expr.Constant):
        return expr.value.numpy()
    return None


def op_name(expr) -> str | None:
    """``relax.nn.conv2d`` style name of a call to a relax operator, else None."""
    if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
        return expr.op.name
    return None


def use_counts(func: relax.Function) -> Counter:
    """How many bindings (plus the function result) use each variable, keyed by ``Var.id_``."""
    counts: Counter = Counter()
    for block in func.body.blocks:
        for binding in block.bindings:
            for var in relax.analysis.free_vars(binding.value):
                counts[var.id_] += 1
    for var in relax.analysis.free_vars(func.body.body):
        counts[var.id_] += 1
    return counts


class BindingRewriter(PyExprMutator):
    """Base of the rewriting passes: the subclass sees each binding value with its arguments already
    rewritten and may return a replacement (same type). ``self.value_of(var)`` gives what a variable
    is bound to in the rewritten program; ``self.single_use(var)`` tells whether only one binding
    of the original program uses it."""

    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self._counts: Counter = Counter()
        self._origin: dict = {}  # id_ of an emitted var -> the original var it replaces

    # Subclasses override these.
    def rewrite_call(self, call: relax.Call, var: relax.Var):  # noqa: ARG002
        return None

    def rewrite_tuple_getitem(self, item: relax.TupleGetItem, var: relax.Var):  # noqa: ARG002
        return None

    def value_of(self, expr):
        """The (rewritten) value bound to ``expr`` if it is a bound variable, else ``expr``."""
        if isinstance(expr, relax.Var):
            bound = self.lookup_binding(expr)
            if bound is not None:
                return bound
        return expr

    def conv_of(self, expr):
        """The parsed ``sepnet.conv2d`` bound to ``expr``, else None."""
        return parse_conv(self.value_of(expr))

    def single_use(self, var) -> bool:
        """True if at most one binding of the original program uses ``var``."""
        origin = self._origin.get(getattr(var, "id_", None), var)
        return self._counts.get(getattr(origin, "id_", None), 0) <= 1

    def visit_var_binding_(self, binding: relax.VarBinding) -> None:
        value = self.visit_expr(binding.value)
        new = None
        if isinstance(value, relax.Call):
            new = self.rewrite_call(value, binding.var)
        elif isinstance(value, relax.TupleGetItem):
            new = self.rewrite_tuple_getitem(value, binding.var)
        if new is not None:
            value = new
        name = binding.var.name
        if isinstance(binding.var, relax.DataflowVar):
            new_var = self.builder_.emit(value, name_hint=name)
        else:
            new_var = self.builder_.emit_output(value, name_hint=name)
        self._origin[new_var.id_] = binding.var
        self.set_var_remap(binding.var, new_var)

    def run(self) -> tvm.IRModule:
        """Rewrite every Relax function of the module and drop bindings left unused."""
        mod = self.builder_.get()
        for gvar, func in list(mod.functions_items()):
            if isinstance(func, relax.Function):
                self._counts = use_counts(func)
                new_func = self.visit_expr(func)
                new_func = relax.analysis.remove_all_unused(new_func)
                self.builder_.update_func(gvar, new_func)
        return self.builder_.get()


def module_pass(name: str):
    """Decorator turning a class with ``transform_module(self, mod)`` into a TVM module pass class
    usable in ``tvm.transform.Sequential``."""

    def wrap(cls):
        def transform_module(self, mod, ctx):  # noqa: ARG001
            return self.rewrite_module(mod)

        cls.transform_module = transform_module
        return tvm.transform.module_pass(opt_level=0, name=name)(cls)

    return wrap
