"""Helpers shared by the graph passes: binding lookups, use counts and the rewrite driver."""
from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator

from tvm_sepnet.errors import SepnetError
from tvm_sepnet.ops import parse_conv


def const_value(expr) -> np.ndarray | None:
    """The numpy value of a relax tensor constant, else None."""
    if isinstance(expr, tvm.ir.expr.GenericConst):
        return expr.value.numpy()
    return None


def is_float32(expr) -> bool:
    """Whether ``expr`` is a float32 tensor (by its type)."""
    ty = expr.ty
    return isinstance(ty, relax.TensorType) and str(ty.dtype) == "float32"


def op_name(expr) -> str | None:
    """``relax.nn.conv2d`` style name of a call to a relax operator, else None."""
    if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
        return expr.op.name
    return None


def binding_operands(value) -> list:
    """The direct operands of a binding value, in order: a call's arguments, a tuple's fields, a tuple
    item's tuple, or the variable itself (an alias)."""
    if isinstance(value, relax.Call):
        return list(value.args)
    if isinstance(value, relax.Tuple):
        return list(value.fields)
    if isinstance(value, relax.TupleGetItem):
        return [value.tuple_value]
    if isinstance(value, relax.Var):
        return [value]
    return []


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
        self.binding_names: dict = {}  # id_ of an original binding var -> the name its rewrite is emitted under

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
        try:
            self._rewrite_binding(binding)
        except SepnetError as err:  # TVM's FFI would turn it into a RuntimeError
            _PENDING.error = err
            raise

    def replace_binding(self, binding: relax.VarBinding):
        """A value for ``binding`` built from the original one before its operands are rewritten (for a
        call whose operands change type, which TVM's shape inference would reject), else None."""
        return None

    def _rewrite_binding(self, binding: relax.VarBinding) -> None:
        value = self.replace_binding(binding)
        if value is not None:
            self._emit_binding(binding, value)
            return
        value = self.visit_expr(binding.value)
        new = None
        if isinstance(value, relax.Call):
            new = self.rewrite_call(value, binding.var)
        elif isinstance(value, relax.TupleGetItem):
            new = self.rewrite_tuple_getitem(value, binding.var)
        if new is not None:
            value = new
        self._emit_binding(binding, value)

    def _emit_binding(self, binding: relax.VarBinding, value) -> None:
        name = self.binding_names.get(binding.var.id_, binding.var.name)
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


_PENDING = threading.local()


def _reraise_pending(err: BaseException):
    """Re-raise the tvm-sepnet error that a pass raised inside TVM's FFI (which turns it into a
    RuntimeError), so callers see the original type and message."""
    pending = getattr(_PENDING, "error", None)
    if pending is not None and pending.args and pending.args[0] in str(err):
        _PENDING.error = None
        raise pending from None
    _PENDING.error = None
    raise err


def apply_pass(pass_or_sequence, mod: tvm.IRModule) -> tvm.IRModule:
    """Run a pass (or a Sequential of them) keeping tvm-sepnet error types."""
    try:
        return pass_or_sequence(mod)
    except Exception as err:  # noqa: BLE001 - re-raised with its original type
        _reraise_pending(err)


def module_pass(name: str):
    """Decorator turning a class with ``rewrite_module(self, mod)`` into a TVM module pass class
    usable in ``tvm.transform.Sequential``. A SepnetError raised by the pass reaches the caller with
    its own type when the pass is called directly or through :func:`apply_pass`."""

    def wrap(cls):
        def transform_module(self, mod, ctx):  # noqa: ARG001
            try:
                return self.rewrite_module(mod)
            except SepnetError as err:
                _PENDING.error = err  # re-raised with its type by __call__ / apply_pass
                raise

        cls.transform_module = transform_module
        pass_cls = tvm.transform.module_pass(opt_level=0, name=name)(cls)

        def __call__(self, mod):
            try:
                return pass_cls.__call__(self, mod)
            except Exception as err:  # noqa: BLE001
                _reraise_pending(err)

        return type(cls.__name__, (pass_cls,), {"__call__": __call__, "__doc__": cls.__doc__,
                                                 "__module__": cls.__module__})

    return wrap
