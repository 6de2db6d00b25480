"""QuantizeSkipConnections: carry a fused residual in 8 bits when another layer already quantizes it.

Matches ``sepnet.conv2d`` layers with a fused residual operand ``r`` (``attrs.residual``, from
``FuseResidualAdd``: the SEP module's identity skip) where ``r`` is also the input of an 8-bit integer
layer (the next module's reduce conv, int8 weights, 8-bit activations). Emits the layer with
``attrs.residual_quant`` = that layer's activation quantizer: the residual added is then
``float32(clip(rint(r * inv_scale), lo, hi)) * scale``, the value those 8-bit codes stand for. The
integer dataflow then reads the skip as the words the other layer reads (1 byte per value instead of
4, and no float32 tensor at all); the reference executor computes the same (bit-exact). This changes the
model's numerics by at most half a quantization step of that quantizer per residual value
(docs/numerics.md); ``tvm_sepnet.build(..., skip_connections="float")`` keeps the float residual.

When several 8-bit layers read ``r``, the first in program order gives the quantizer.
"""
from __future__ import annotations

from tvm import relax
from tvm.relax.expr_functor import mutator

from tvm_sepnet.ops import parse_conv

from .utils import BindingRewriter, module_pass


def _eight_bit_readers(func: relax.Function) -> dict:
    """var id -> the ``act`` of the first 8-bit integer layer reading it as its input."""
    readers = {}
    for block in func.body.blocks:
        for b in block.bindings:
            conv = parse_conv(b.value)
            if conv is None or not isinstance(conv.x, relax.Var):
                continue
            act = conv.attrs.act
            if conv.attrs.weight_format == "int8" and act.get("kind") != "float" and act.get("bits") == 8:
                readers.setdefault(conv.x.id_, dict(act))
    return readers


@mutator
class _SkipQuantizer(BindingRewriter):
    def __init__(self, mod, readers):
        super().__init__(mod)
        self.readers = readers

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None or not conv.attrs.residual or conv.attrs.residual_quant:
            return None
        origin = self._origin.get(getattr(conv.residual, "id_", None), conv.residual)
        act = self.readers.get(getattr(origin, "id_", None))
        if act is None:
            return None
        return conv.rebuild(attrs=conv.attrs.replace(residual_quant=act))


@module_pass("QuantizeSkipConnections")
class QuantizeSkipConnections:
    """Quantize fused residuals that an 8-bit layer also reads (see the module docstring)."""

    def rewrite_module(self, mod):
        return _SkipQuantizer(mod, _eight_bit_readers(mod["main"])).run()
