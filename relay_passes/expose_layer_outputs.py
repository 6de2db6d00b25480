"""ExposeLayerOutputs: make ``main`` also return the output of every ``sepnet.conv2d`` layer.

Matches the ``main`` function; emits the same function returning
``(original outputs..., layer outputs...)``. Used to probe layers one by one against the reference
executor (``tvm_sepnet.build(..., probe_layers=True)``); the layer names are recorded in the
function attribute ``sepnet.probed_layers``.
"""
from __future__ import annotations

import tvm
from tvm import relax

from tvm_sepnet.ops import parse_conv

from .utils import module_pass


@module_pass("ExposeLayerOutputs")
class ExposeLayerOutputs:
    """Return every conv layer's output from ``main`` besides the model's outputs."""

    def rewrite_module(self, mod):
        func = mod["main"]
        block = func.body.blocks[-1]
        if not isinstance(block, relax.DataflowBlock):
            raise ValueError("ExposeLayerOutputs expects main to end with a dataflow block")
        bindings, probes, names = list(block.bindings), [], []
        for binding in block.bindings:
            conv = parse_conv(binding.value)
            if conv is not None:
                out = relax.Var(f"probe_{binding.var.name}", binding.var.ty)
                probes.append(relax.VarBinding(out, binding.var))
                names.append(conv.attrs.name)
        result = func.body.body
        fields = list(result.fields) if isinstance(result, relax.Tuple) else [result]
        tuple_expr = relax.Tuple(fields + [b.var for b in probes])
        out_var = relax.Var("probed_outputs", relax.TupleType([f.ty for f in tuple_expr.fields]))
        new_block = relax.DataflowBlock(bindings + probes + [relax.VarBinding(out_var, tuple_expr)])
        body = relax.SeqExpr(list(func.body.blocks[:-1]) + [new_block], out_var)
        new = relax.Function(func.params, body, out_var.ty, func.is_pure, func.attrs)
        new = new.with_attr("sepnet.probed_layers", names)
        out = tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
        out["main"] = new
        return relax.transform.Normalize()(out)
