"""LowerToKernels: replace each ``sepnet.conv2d`` layer by calls of scheduled TIR kernels.

Matches every ``sepnet.conv2d``; the first row of ``LAYER_LOWERINGS`` whose condition holds lowers it
with its op folder's ``lowering.py``:

=================  ===========  ===========================================================
weights            activations  kernels (``call_tir``)
=================  ===========  ===========================================================
float (float64)    float        ``float_conv2d_exact`` (the default accumulation)
float (float32)    float        ``relax.nn.conv2d`` + bias add (+ relu): stock TVM legalization
binary / int8      float        ``decoded_weight_conv2d``
binary             uint A-bit   ``quantize_bitpack`` → ``bitserial_conv2d`` (``impl`` bitserial/auto)
binary             uint A-bit   ``quantize`` → ``int8_conv2d`` on ±1 int8 weights (``impl="int8"``)
int8               8-bit        ``quantize`` → ``int8_conv2d`` (the quantize fused into the kernel
                                when its weight plan is the channel-word kernel: ``fuses_quantize``)
=================  ===========  ===========================================================

A residual layer (``attrs.residual``, from ``FuseResidualAdd``) passes its residual operand to the
integer kernels, which add it in their epilogue before the ReLU.

Adding an op: its folder under ``schedules/`` (compute, reference, kernel, cpu schedule, space,
``lowering.py``) and one row in ``LAYER_LOWERINGS``. The schedule of each kernel comes from the target
preset's family (``schedules/families.py``); identical kernels are added once. Epilogue constants are
computed with :func:`schedules.common.epilogue_params`, exactly as the reference executor does.
Kernel PrimFuncs are marked opaque so that Relax's FuseOps keeps them whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d import lowering as bitserial_conv2d
from schedules.common import act_range, epilogue_params
from schedules.decoded_weight_conv2d import lowering as decoded_weight_conv2d
from schedules.dot_conv2d import lowering as dot_conv2d
from schedules.families import TUNABLE_FAMILIES
from schedules.float_conv2d_exact import lowering as float_conv2d_exact
from schedules.int8_conv2d import lowering as int8_conv2d
from schedules.quantize.kernel import fake_quantize_prim_func
from schedules.word_layout import Domain
from schedules.word_max_pool2d.kernel import word_max_pool2d_prim_func
from schedules.xnor_conv2d import lowering as xnor_conv2d
from tvm_sepnet.errors import UnsupportedOpError
from tvm_sepnet.ops import ConvCall
from tvm_sepnet.targets import get_target

from .plan_dataflow import DataflowPlan, plan_integer_dataflow
from .plan_sign_dataflow import plan_sign_layers
from .report import KernelReport
from .utils import BindingRewriter, module_pass

OPAQUE = 8  # relax OpPatternKind::kOpaque

#: (condition on the layer's attributes, lowering of its op folder): the first match lowers a layer
LAYER_LOWERINGS = [
    (lambda a: a.act["kind"] == "float" and a.weight_format == "float", float_conv2d_exact.lower),
    (lambda a: a.act["kind"] == "float", decoded_weight_conv2d.lower),
    (lambda a: a.weight_format == "binary" and a.impl == "int8", int8_conv2d.lower_binary),
    (lambda a: a.weight_format == "binary", bitserial_conv2d.lower),
    (lambda a: a.weight_format == "int8", int8_conv2d.lower),
]


def _nbytes(shape, dtype: str) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n * ((int("".join(ch for ch in dtype if ch.isdigit()) or 8) + 7) // 8)


def as_scheduled_kernel(func):
    """A hand-scheduled kernel PrimFunc marked for Relax: opaque (FuseOps keeps it whole) and scheduled
    (the default schedule rules leave it alone)."""
    return func.with_attr("op_pattern", OPAQUE).with_attr("tirx.is_scheduled", True)


@dataclass
class LayerToLower:
    """One ``sepnet.conv2d`` layer as the op lowerings see it: the parsed call, the input and output
    shapes, the geometry (``strides, padding, dilation, groups, relu``), the layer's knobs, the
    residual operand (a list of zero or one expression), and for integer layers the epilogue
    constants (``scale``, ``offset``) and the quantizer's ``inv_scale`` (a relax constant)."""

    conv: ConvCall
    x_shape: tuple
    out_shape: tuple
    geo: dict
    knobs: dict | None
    residual: list
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None
    inv_scale: object = None


@mutator
class _Lowerer(BindingRewriter):
    """The lowering context the op lowerings call (``kernel``, ``call``, ``call_tir``, ``const``,
    ``tunable``, ``tuned_knobs``, ``choose``; ``family``)."""

    def __init__(self, mod, family: str, knobs: dict, tuning, report: KernelReport, plan: DataflowPlan, preset=None):
        super().__init__(mod)
        self.preset = preset
        self.family = family
        self.knobs = knobs
        self.tuning = tuning
        self.kernels: dict[str, object] = {}
        self.report = report
        self.plan = plan
        self.emitted: dict[str, object] = {}  # dot layer -> the var of its outputs' tuple
        self.siblings: dict[str, tuple] = {}  # dot layer computed in a later layer's kernel -> (layer, x)
        self.layer = None

    def kernel(self, key: str, build, tunable=None):
        """GlobalVar of a kernel PrimFunc, built and added once per distinct key. ``tunable`` =
        (kind, unscheduled builder) marks a kernel with a tuning space (``schedules/<op>/space.py``):
        its tuned schedule replaces the hand one when ``self.tuning`` has a record for it."""
        tasks = self.report.tasks
        if tunable is not None:
            task = tasks.get(key)
            if task is None:
                kind, unscheduled = tunable
                task = tasks[key] = {"kind": kind, "unscheduled": unscheduled(), "layers": [], "calls": 0}
            task["calls"] += 1
            task["layers"].append(self.layer)
        if key not in self.kernels:
            func = None
            if tunable is not None:
                task = tasks[key]
                task["hand"] = build()
                func = self.tuning.lookup(task) if self.tuning is not None else None
                task["source"] = "hand" if func is None else "tuned"
                func = task["hand"] if func is None else func
            func = as_scheduled_kernel(func if func is not None else build())
            name = key.split("(")[0]
            self.kernels[key] = self.builder_.add_func(func, name)
        self.report.layer_kernels.setdefault(self.layer, []).append(self.kernels[key].name_hint)
        return self.kernels[key]

    def call_tir(self, gvar, args, shape, dtype):
        """The (unbound) ``call_tir`` of kernel ``gvar``."""
        self._count_traffic(args, [(shape, dtype)])
        return relax.call_tir(gvar, args, relax.TensorType(shape, dtype))

    def call_tir_multi(self, gvar, args, out_types):
        """A bound ``call_tir`` of kernel ``gvar`` with several outputs ``[(shape, dtype)]``: its tuple var."""
        self._count_traffic(args, out_types)
        return self.builder_.emit(relax.call_tir(gvar, args, [relax.TensorType(s, d) for s, d in out_types]))

    def _count_traffic(self, args, out_types) -> None:
        """Bytes the current layer's kernels read (tensor operands that are not constants) and write."""
        read = 0
        for arg in args:
            ty = arg.ty if not isinstance(arg, tvm.ir.expr.Constant) else None
            if isinstance(ty, relax.TensorType) and ty.shape is not None:
                read += _nbytes([int(v) for v in ty.shape], str(ty.dtype))
        written = sum(_nbytes(shape, dtype) for shape, dtype in out_types)
        entry = self.report.traffic.setdefault(self.layer, {"read": 0, "written": 0})
        entry["read"] += read
        entry["written"] += written

    def call(self, key, build, args, shape, dtype, tunable=None):
        """A bound ``call_tir`` of the kernel ``key`` (an intermediate tensor of the layer)."""
        return self.builder_.emit(self.call_tir(self.kernel(key, build, tunable), args, shape, dtype))

    @staticmethod
    def const(value):
        return relax.const(value)

    def tunable(self, kind: str, build):
        """``tunable`` of a kernel of ``kind`` built by ``build(family)``, or None where the family has no
        tuning spaces."""
        return (kind, lambda: build(None)) if self.family in TUNABLE_FAMILIES else None

    def tuned_knobs(self, key: str, make_task):
        """Register the layer's kernel as a knob task ``key`` (``make_task()`` gives its entry, or None
        when there is nothing to choose) and return its tuned knob overrides (None: the defaults)."""
        if self.family not in TUNABLE_FAMILIES:
            return None
        task = self.report.knob_tasks.get(key)
        if task is None:
            entry = make_task()
            if entry is None:
                return None
            task = self.report.knob_tasks[key] = {**entry, "layers": [], "calls": 0}
        task["calls"] += 1
        task["layers"].append(self.layer)
        if "tuned" not in task:  # looked up once per kernel, as for the MetaSchedule tasks
            task["tuned"] = self.tuning.knobs_for(key, task) if self.tuning is not None else None
        return task["tuned"]

    def choose(self, text: str) -> None:
        """Record the kernel chosen for the current layer (``inspect`` shows it)."""
        self.report.choices[self.layer] = text

    def replace_binding(self, binding):
        pool = self.plan.pools.get(f"pool:{binding.var.name}")
        if pool is not None and pool.var_id == binding.var.id_:
            return self._lower_word_pool(pool, binding)
        return None

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a = conv.attrs
        self.layer = a.name
        act = a.act
        if a.is_sign:
            return self._lower_sign(conv)
        self.choose(a.weight_format if act["kind"] == "float" else f"{a.weight_format}/{act['kind']}{act['bits']}")
        if a.residual and act["kind"] == "float":
            raise UnsupportedOpError(
                f"layer {a.name!r}: a fused residual add needs an integer kernel (quantized activations); "
                "build with fuse_epilogues=False or quantize the layer's activations")
        if act["kind"] == "float" and a.weight_format == "float" and a.accumulate == "float32":
            return self._stock_conv(conv)
        flow = self.plan.layers.get(a.name)
        if flow is not None:  # x may be a dot producer's tuple of outputs: the shape comes from the plan
            x_shape = (flow.n, a.in_channels, flow.h, flow.w)
        else:
            x_shape = tuple(int(v) for v in conv.x.ty.shape)
        layer = LayerToLower(conv, x_shape, a.out_shape(x_shape),
                             {"strides": tuple(a.strides), "padding": tuple(a.padding), "dilation": tuple(a.dilation),
                              "groups": a.groups, "relu": a.relu},
                             self.knobs.get(a.name), [conv.residual] if a.residual else [])
        if act["kind"] != "float":
            layer.scale, layer.offset = epilogue_params(act["scale"], conv.w_scale, conv.bias)
            layer.inv_scale = relax.const(np.array([act["inv_scale"]], np.float32))
        if flow is not None:
            return self._lower_dot(layer, flow)
        if a.residual_quant:  # the legacy kernels add a float residual: give them its 8-bit value
            layer.residual = [self._fake_quantized(conv.residual, a.residual_quant, layer.out_shape)]
        for matches, lower in LAYER_LOWERINGS:
            if matches(a):
                return lower(self, layer)
        raise UnsupportedOpError(
            f"layer {a.name!r}: weights {a.weight_format!r} with {act['kind']} activations have no kernel; "
            "quantize the layer's weights (binary or int8) or keep its activations float")

    def _lower_sign(self, conv):
        """A sign layer (``xnor_conv2d``): it reads its producer's bits output when the plan says so; its binding
        becomes its float32 NCHW output (when something needs it) or the tuple of its outputs."""
        a = conv.attrs
        if a.weight_format != "binary":
            raise UnsupportedOpError(f"layer {a.name!r}: ±1 activations need binary weights, got {a.weight_format!r}")
        flow = self.plan.sign.get(a.name)
        x_shape = (flow.n, a.in_channels, flow.h, flow.w) if flow is not None else tuple(int(v) for v in conv.x.ty.shape)
        layer = LayerToLower(conv, x_shape, a.out_shape(x_shape),
                             {"strides": tuple(a.strides), "padding": tuple(a.padding), "dilation": tuple(a.dilation),
                              "groups": a.groups, "relu": a.relu},
                             self.knobs.get(a.name), [conv.residual] if a.residual else [])
        if a.residual_quant:
            raise UnsupportedOpError(f"layer {a.name!r}: a sign layer takes a float residual")
        if a.pad_value == 0 and a.acc_relu and max(a.padding):
            raise UnsupportedOpError(f"layer {a.name!r}: zero padding with the ReLU on the ±1 dot product (acc_relu) is "
                                     "not supported (LCE refuses it too); use pad_values=1 or a ReLU after the layer")
        if flow is None:
            return xnor_conv2d.lower(self, layer)
        x = self._output(flow.producer, flow.input_index) if flow.source == "bits" else conv.x
        self.emitted[flow.name] = xnor_conv2d.lower(self, layer, flow, x)
        if flow.dense_index is not None:
            return self._output(flow.name, flow.dense_index)
        return self.emitted[flow.name]

    def _fake_quantized(self, r, quant: dict, shape):
        """``r`` quantized with ``quant`` and dequantized (``schedules.quantize`` ``fake_quantize``)."""
        lo, hi, _ = act_range(quant["kind"], quant["bits"])
        build = lambda family=self.family: fake_quantize_prim_func(shape, lo=lo, hi=hi, family=family)
        inv = relax.const(np.array([quant["inv_scale"]], np.float32))
        step = relax.const(np.array([quant["scale"]], np.float32))
        return self.call(f"fake_quantize({shape},{lo},{hi})", build, [r, inv, step], shape, "float32")

    def _lower_dot(self, layer, flow):
        """A dot layer of the integer dataflow: it reads its producer's words / f32p outputs; its binding
        becomes its float32 NCHW output (when something needs it) or the tuple of its outputs."""
        x = layer.conv.x
        if flow.source == "words":
            x = self._output(flow.producer, flow.input_index)
        if flow.fused_into is not None:  # computed in its consumer's kernel: kept until then
            self.siblings[flow.name] = (layer, x)
            return layer.conv.x
        residual = None
        if flow.residual_from is not None and flow.sibling is None:
            residual = self._output(flow.residual_from, flow.residual_index)
        sibling = None
        if flow.sibling is not None:
            side_layer, side_x = self.siblings.pop(flow.sibling)
            sibling = (side_layer, self.plan.layers[flow.sibling], side_x)
        self.emitted[flow.name] = dot_conv2d.lower(self, layer, flow, x, residual, sibling)
        if flow.dense_index is not None:
            return self._output(flow.name, flow.dense_index)
        return self.emitted[flow.name]

    def _output(self, layer: str, index: int):
        """Output ``index`` of a dot layer's kernel (its call is the tensor itself when it has one output)."""
        outputs = self.emitted[layer]
        flow = self.plan.layers.get(layer) or self.plan.sign.get(layer) or self.plan.pools[layer]
        return outputs if len(flow.outputs) == 1 else relax.TupleGetItem(outputs, index)

    def _lower_word_pool(self, pool, binding):
        """A max pool run on words (``word_max_pool2d``): its call is the consumers' input. It reads its
        producer's words, or the float32 tensor quantized with the consumers' quantizer."""
        self.layer = pool.name
        _, lo, hi, inv = pool.spec
        kw = dict(n=pool.n, r=pool.c // 4, h=pool.h, w=pool.w, pad_in=pool.pad_in, ho=pool.ho, wo=pool.wo,
                  pad_out=pool.pad_out, pool=pool.pool, strides=pool.strides, padding=pool.padding,
                  in_quantizer=None if pool.producer is not None else (lo, hi))
        gvar = self.kernel(f"word_max_pool2d({sorted(kw.items())})", lambda: word_max_pool2d_prim_func(**kw))
        if pool.producer is not None:
            args = [self._output(pool.producer, pool.input_index)]
        else:
            args = [self.visit_expr(binding.value.args[0]), self.const(np.array([inv], np.float32))]
        shape = (pool.n, pool.c // 4, Domain(pool.n, pool.ho, pool.wo, pool.pad_out).length)
        self.emitted[pool.name] = self.builder_.emit(self.call_tir(gvar, args, shape, "int32"))
        return self.emitted[pool.name]

    def _stock_conv(self, conv):
        a = conv.attrs
        y = self.builder_.emit(relax.op.nn.conv2d(conv.x, relax.const(conv.w), strides=a.strides, padding=a.padding,
                                                  dilation=a.dilation, groups=a.groups))
        y = relax.op.add(y, relax.const(conv.bias.reshape(1, -1, 1, 1)))
        if a.relu:
            y = relax.op.nn.relu(self.builder_.emit(y))
        return y


@module_pass("LowerToKernels")
class LowerToKernels:
    """Lower ``sepnet.conv2d`` layers to scheduled kernels of the target preset's family.

    ``knobs`` maps a layer name to schedule knobs; ``tuning`` (``tvm_sepnet.tuning.TuningRecords``, or
    any object with its ``lookup`` and ``knobs_for``) supplies tuned schedules of the tunable kernels;
    ``report`` (:class:`relay_passes.report.KernelReport`) receives the kernel chosen per layer, the
    tunable kernels, the knob tasks and the kernels each layer calls."""

    def __init__(self, target="x86", knobs=None, tuning=None, report: KernelReport | None = None,
                 dataflow: str = "integer"):
        if dataflow not in ("integer", "float"):
            raise ValueError(f"dataflow must be 'integer' or 'float', got {dataflow!r}")
        self.preset = get_target(target)
        self.family = self.preset.family
        self.knobs = dict(knobs or {})
        self.tuning = tuning
        self.report = report
        self.dataflow = dataflow

    def rewrite_module(self, mod):
        plan = DataflowPlan()
        if self.dataflow == "integer":
            plan = plan_integer_dataflow(mod["main"], self.preset, self.knobs)
        plan.sign = plan_sign_layers(mod["main"], self.preset, self.knobs, bits_edges=self.dataflow == "integer")
        report = self.report or KernelReport()
        report.dataflow = plan
        return _Lowerer(mod, self.family, self.knobs, self.tuning, report, plan, self.preset).run()
