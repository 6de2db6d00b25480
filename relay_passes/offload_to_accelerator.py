"""OffloadToAccelerator: rewrite the ``sepnet.conv2d`` layers an accelerator runs into calls of its driver.

Matches each ``sepnet.conv2d`` layer whose weights and activations the accelerator supports
(``tvm_sepnet.fpga.compiler.offload_kind``: binary weights with unsigned A-bit activations -> binary
unit; int8 weights with 8-bit activations -> int8 core; with their fused residual add and ReLU) and
emits ``R.call_dps_packed("sepnet.fpga.<model id>.<layer>", (x[, residual]), float32 out)``. The
layer's program (instruction stream + DRAM image, ``tvm_sepnet.fpga.compiler.compile_layer``) goes to
the report (``relay_passes.report.OffloadReport``); the runtime registers the packed functions from them. Other layers are
left for
``LowerToKernels`` (host kernels). BYOC-style partitioning at layer granularity: each offloaded region
is one layer with its fused epilogue.
"""
from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d.packing import unpack_weights
from schedules.common import epilogue_params
from tvm_sepnet.fpga.compiler import compile_layer, layer_geometry, offload_kind
from tvm_sepnet.fpga.runtime import function_name

from .report import OffloadReport
from .utils import BindingRewriter, module_pass


@mutator
class _Offloader(BindingRewriter):
    def __init__(self, mod, spec, knobs, model_id, tuned, report: OffloadReport):
        super().__init__(mod)
        self.spec, self.knobs, self.model_id, self.tuned = spec, knobs, model_id, tuned
        self.programs = report.programs
        self.layers = report.layers  # layer name -> compile_layer arguments (the tuner recompiles with other knobs)

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None or offload_kind(conv.attrs) is None:
            return None
        a = conv.attrs
        x_shape = tuple(int(v) for v in conv.x.ty.shape)
        weights = unpack_weights(conv.w, a.channels_per_group) if a.weight_format == "binary" else conv.w
        scale, offset = epilogue_params(a.act["scale"], conv.w_scale, conv.bias)
        self.layers[a.name] = {"attrs": a, "x_shape": x_shape, "weights": np.asarray(weights), "scale": scale,
                               "offset": offset, "inv_scale": a.act["inv_scale"]}
        knobs = self.knobs.get(a.name)
        if knobs is None and self.tuned is not None:
            kind, geo = layer_geometry(a, x_shape, self.spec)
            knobs = self.tuned(geo, kind, a.act["bits"])
        self.programs[a.name] = compile_layer(a.name, spec=self.spec, knobs=knobs, **self.layers[a.name])
        args = [conv.x] + ([conv.residual] if a.residual else [])
        return relax.call_dps_packed(function_name(self.model_id, a.name), relax.Tuple(args),
                                     relax.TensorType(a.out_shape(x_shape), "float32"))


@module_pass("OffloadToAccelerator")
class OffloadToAccelerator:
    """Offload supported layers to the accelerator ``spec`` (``tvm_sepnet.targets.accelerator.AcceleratorSpec``);
    ``knobs`` maps a layer name to its tiling knobs; ``tuned`` (``tvm_sepnet.tuning.accelerator.TunedTiling``)
    gives tuned knobs to the other layers; ``report`` (:class:`relay_passes.report.OffloadReport`)
    receives each offloaded layer's ``LayerProgram`` and the arguments it was compiled from."""

    def __init__(self, spec, model_id: str, knobs=None, tuned=None, report: OffloadReport | None = None):
        self.spec, self.model_id, self.tuned = spec, model_id, tuned
        self.knobs = dict(knobs or {})
        self.report = report

    def rewrite_module(self, mod):
        return _Offloader(mod, self.spec, self.knobs, self.model_id, self.tuned, self.report or OffloadReport()).run()
