"""FuseReLU: fold ``relu(conv)`` into the conv layer's epilogue.

Matches ``relax.nn.relu(v)`` where ``v`` is a ``sepnet.conv2d`` used only by the relu. Emits the
conv with ``relu=True`` (the kernel applies ``max(y, 0)`` after its epilogue).
"""
from __future__ import annotations

from tvm.relax.expr_functor import mutator

from .utils import BindingRewriter, module_pass, op_name


@mutator
class _ReluFuser(BindingRewriter):
    def rewrite_call(self, call, var):
        if op_name(call) != "relax.nn.relu":
            return None
        conv = self.conv_of(call.args[0])
        if conv is None or conv.attrs.relu or not self.single_use(call.args[0]):
            return None
        return conv.rebuild(attrs=conv.attrs.replace(relu=True))


@module_pass("FuseReLU")
class FuseReLU:
    """Fuse single-use conv → relu pairs into the conv layer."""

    def rewrite_module(self, mod):
        return _ReluFuser(mod).run()
