"""LowerToKernels: replace each ``sepnet.conv2d`` layer by calls of scheduled TIR kernels.

Matches every ``sepnet.conv2d``; emits, by (weight format, activation kind):

=================  ===========  ===========================================================
weights            activations  kernels (``call_tir``)
=================  ===========  ===========================================================
float (float64)    float        ``float_conv2d_exact`` (the default accumulation)
float (float32)    float        ``relax.nn.conv2d`` + bias add (+ relu): stock TVM legalization
binary / int8      float        ``decoded_weight_conv2d``
binary             uint A-bit   ``quantize_bitpack`` → ``bitserial_conv2d`` (``impl`` bitserial/auto)
binary             uint A-bit   ``quantize`` → ``int8_conv2d`` on ±1 int8 weights (``impl="int8"``)
int8               8-bit        ``quantize`` → ``int8_conv2d`` (the quantize fused into the kernel
                                when its weight plan is the pairs kernel: ``fuses_quantize``)
=================  ===========  ===========================================================

A residual layer (``attrs.residual``, from ``FuseResidualAdd``) passes its residual operand to the
integer kernels, which add it in their epilogue before the ReLU.

The schedule of each kernel comes from the target preset's family (``schedules/<op>/<family>.py``);
identical kernels are added once. Epilogue constants are computed with
:func:`schedules.common.epilogue_params`, exactly as the reference executor does. Kernel PrimFuncs are
marked opaque so that Relax's FuseOps keeps them whole.
"""
from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.expr_functor import mutator

from schedules.bitserial_conv2d import x86 as bitserial_x86
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from schedules.bitserial_conv2d.packing import prepare_weights, unpack_weights
from schedules.common import epilogue_params
from schedules.decoded_weight_conv2d.kernel import decoded_weight_conv2d_prim_func
from schedules.float_conv2d_exact.kernel import float_conv2d_exact_prim_func
from schedules.families import default_knobs
from schedules.int8_conv2d.compute import conv_geometry
from schedules.int8_conv2d.kernel import fuses_quantize, int8_conv2d_prim_func, int8_conv2d_weight_plan
from schedules.int8_conv2d.packing import prepare_weights as prepare_int8_weights
from schedules.int8_conv2d.x86 import pointwise_knob_space
from schedules.quantize.kernel import quantize_bitpack_im2col_prim_func, quantize_prim_func
from tvm_sepnet.errors import UnsupportedOpError
from tvm_sepnet.targets import get_target

from .utils import BindingRewriter, module_pass

OPAQUE = 8  # relax OpPatternKind::kOpaque
TUNABLE_FAMILIES = ("x86", "arm", "arm_dotprod")  # families whose kernels have MetaSchedule spaces (tvm_sepnet.tuning)


def as_scheduled_kernel(func):
    """A hand-scheduled kernel PrimFunc marked for Relax: opaque (FuseOps keeps it whole) and scheduled
    (the default schedule rules leave it alone)."""
    return func.with_attr("op_pattern", OPAQUE).with_attr("tirx.is_scheduled", True)


def _geometry(a) -> dict:
    return {"strides": tuple(a.strides), "padding": tuple(a.padding), "dilation": tuple(a.dilation),
            "groups": a.groups, "relu": a.relu}


@mutator
class _Lowerer(BindingRewriter):
    def __init__(self, mod, family: str, knobs: dict, tuning=None):
        super().__init__(mod)
        self.family = family
        self.knobs = knobs
        self.tuning = tuning
        self.kernels: dict[str, object] = {}
        self.choices: dict[str, str] = {}
        self.tasks: dict[str, dict] = {}  # tunable kernels: key -> {kind, unscheduled, hand, layers, calls, source}
        self.knob_tasks: dict[str, dict] = {}  # kernels tuned by knob search: key -> {kind, build, layers, calls, ...}
        self.layer = None
        self.layer_kernels: dict[str, list[str]] = {}  # layer name -> kernel function names, in call order

    def _kernel(self, key: str, build, tunable=None):
        """GlobalVar of a kernel PrimFunc, built and added once per distinct key. ``tunable`` =
        (kind, unscheduled builder) marks a kernel with a MetaSchedule space (tvm_sepnet.tuning): its
        tuned schedule replaces the hand one when ``self.tuning`` has a record for it."""
        if tunable is not None:
            task = self.tasks.get(key)
            if task is None:
                kind, unscheduled = tunable
                task = self.tasks[key] = {"kind": kind, "unscheduled": unscheduled(), "layers": [], "calls": 0}
            task["calls"] += 1
            task["layers"].append(self.layer)
        if key not in self.kernels:
            func = None
            if tunable is not None:
                task = self.tasks[key]
                task["hand"] = build()
                func = self.tuning.lookup(task) if self.tuning is not None else None
                task["source"] = "hand" if func is None else "tuned"
                func = task["hand"] if func is None else func
            func = as_scheduled_kernel(func if func is not None else build())
            name = key.split("(")[0]
            self.kernels[key] = self.builder_.add_func(func, name)
        self.layer_kernels.setdefault(self.layer, []).append(self.kernels[key].name_hint)
        return self.kernels[key]

    def _call(self, key, build, args, shape, dtype, tunable=None):
        gvar = self._kernel(key, build, tunable)
        return self.builder_.emit(relax.call_tir(gvar, args, relax.TensorType(shape, dtype)))

    def _quantize_tunable(self, build):
        """``tunable`` of a quantize kernel built by ``build(family)`` (kind ``quantize``)."""
        return ("quantize", lambda: build(None)) if self.family in TUNABLE_FAMILIES else None

    def rewrite_call(self, call, var):
        conv = self.conv_of(call)
        if conv is None:
            return None
        a, x = conv.attrs, conv.x
        self.layer = a.name
        x_shape = tuple(int(v) for v in x.ty.shape)
        out_shape = a.out_shape(x_shape)
        geo = _geometry(a)
        knobs = self.knobs.get(a.name)
        fmt, act = a.weight_format, a.act
        self.choices[a.name] = fmt if act["kind"] == "float" else f"{fmt}/{act['kind']}{act['bits']}"
        c = relax.const
        if a.residual and act["kind"] == "float":
            raise UnsupportedOpError(
                f"layer {a.name!r}: a fused residual add needs an integer kernel (quantized activations); "
                "build with fuse_epilogues=False or quantize the layer's activations")
        res = [conv.residual] if a.residual else []
        if act["kind"] == "float" and fmt == "float" and a.accumulate == "float32":
            return self._stock_conv(conv)
        if act["kind"] == "float" and fmt == "float":
            key = f"float_conv2d_exact({x_shape},{conv.w.shape},{geo})"
            build = lambda family=self.family: float_conv2d_exact_prim_func(x_shape, conv.w.shape, family=family,
                                                                            knobs=knobs, **geo)
            tunable = ("float_conv2d_exact", lambda: build(None)) if self.family in TUNABLE_FAMILIES else None
            return relax.call_tir(self._kernel(key, build, tunable), [x, c(conv.w), c(conv.bias)],
                                  relax.TensorType(out_shape, "float32"))
        if act["kind"] == "float":
            cg = a.channels_per_group
            key = f"decoded_weight_conv2d({x_shape},{conv.w.shape},{conv.w.dtype},{fmt},{geo})"
            build = lambda: decoded_weight_conv2d_prim_func(
                x_shape, conv.w.shape, str(conv.w.dtype), weight_format=fmt, channels_per_group=cg,
                family=self.family, knobs=knobs, **geo)
            return relax.call_tir(self._kernel(key, build), [x, c(conv.w), c(conv.w_scale), c(conv.bias)],
                                  relax.TensorType(out_shape, "float32"))
        scale, offset = epilogue_params(act["scale"], conv.w_scale, conv.bias)
        inv = c(np.array([act["inv_scale"]], np.float32))
        if fmt == "binary" and a.impl == "int8":
            # ±1 weights expanded to int8 for the int8 kernel; A-bit activations as uint8 (same integers)
            signs = unpack_weights(conv.w, a.channels_per_group).astype(np.int8)
            self.choices[a.name] = f"int8(±1)/uint{act['bits']}"
            return self._int8_conv(x, x_shape, signs, (0, (1 << act["bits"]) - 1, "uint8"), inv, scale, offset,
                                   geo, knobs, out_shape, res)
        if fmt == "binary":
            # im2col bit layout (docs/numerics.md): the producer packs taps (ky, kx, c) of a group into
            # pack_bits words; the stored wb (O, KC, KH, KW) becomes the kernel-ready wk (O, KR).
            pack_bits = int((knobs or {}).get("pack_bits", bitserial_x86.DEFAULT_KNOBS["pack_bits"]))
            bits, groups, cg = act["bits"], a.groups, a.channels_per_group
            kh, kw = int(conv.w.shape[2]), int(conv.w.shape[3])
            wk = prepare_weights(conv.w, cg, pack_bits)
            pdt = str(wk.dtype)
            pgeo = {"kernel": (kh, kw), "strides": geo["strides"], "padding": geo["padding"], "dilation": geo["dilation"]}
            xp_shape = (x_shape[0], groups, out_shape[2], bits, wk.shape[1], out_shape[3])
            qbuild = lambda family=self.family: quantize_bitpack_im2col_prim_func(
                x_shape, bits=bits, groups=groups, pack_bits=pack_bits, family=family, **pgeo)
            xp = self._call(f"quantize_bitpack({x_shape},{bits},{groups},{pack_bits},{pgeo})", qbuild, [x, inv],
                            xp_shape, pdt, self._quantize_tunable(qbuild))
            key = f"bitserial_conv2d({xp_shape},{wk.shape},{pdt},{geo['relu']},{a.residual})"
            build = lambda family=self.family: bitserial_conv2d_prim_func(
                xp_shape, wk.shape, pdt, relu=geo["relu"], residual=a.residual, family=family, knobs=knobs)
            tunable = ("bitserial_conv2d", lambda: build(None)) if self.family in TUNABLE_FAMILIES else None
            return relax.call_tir(self._kernel(key, build, tunable), [xp, c(wk), c(scale), c(offset), *res],
                                  relax.TensorType(out_shape, "float32"))
        if fmt == "int8":
            if act["kind"] == "uint":
                lo, hi, qdtype = 0, (1 << act["bits"]) - 1, "uint8"
            else:
                hi = (1 << (act["bits"] - 1)) - 1
                lo, qdtype = -hi, "int8"
            return self._int8_conv(x, x_shape, conv.w, (lo, hi, qdtype), inv, scale, offset, geo, knobs, out_shape, res)
        raise UnsupportedOpError(
            f"layer {a.name!r}: weights {fmt!r} with {act['kind']} activations have no kernel; "
            "quantize the layer's weights (binary or int8) or keep its activations float")

    def _int8_conv(self, x, x_shape, wq, qrange, inv, scale, offset, geo, knobs, out_shape, res):
        """quantize (to ``qrange`` = (lo, hi, dtype)) then the int8 conv kernel on stored int8 weights;
        the quantize runs inside the kernel when its plan allows (``fuses_quantize``)."""
        c = relax.const
        lo, hi, qdtype = qrange
        conv_geo = {k: v for k, v in geo.items() if k != "relu"}
        knobs = self._pointwise_knobs(x_shape, qdtype, wq.shape, geo, conv_geo, qrange, bool(res), knobs)
        plan = int8_conv2d_weight_plan(x_shape, wq.shape, family=self.family, knobs=knobs, **conv_geo)
        wk = prepare_int8_weights(wq, plan)  # kernel-ready layout (the stored wq when plan is None)
        fused = fuses_quantize(plan)
        if fused:
            args = [x, c(wk), c(scale), c(offset), inv, *res]
        else:
            qbuild = lambda family=self.family: quantize_prim_func(x_shape, lo=lo, hi=hi, out_dtype=qdtype,
                                                                   family=family)
            xq = self._call(f"quantize({x_shape},{lo},{hi},{qdtype})", qbuild, [x, inv], x_shape, qdtype,
                            self._quantize_tunable(qbuild))
            args = [xq, c(wk), c(scale), c(offset), *res]
        quantize = (lo, hi) if fused else None
        key = f"int8_conv2d({x_shape},{qdtype},{wq.shape},{geo},{plan},{quantize},{bool(res)})"
        build = lambda family=self.family: int8_conv2d_prim_func(
            x_shape, qdtype, wq.shape, family=family, knobs=knobs, prepacked=True, residual=bool(res),
            quantize=quantize, **geo)
        # the direct (tiled) kernel has a MetaSchedule space; the pairs kernel is TIR written by hand
        tunable = ("int8_conv2d", lambda: build(None)) if self.family in TUNABLE_FAMILIES and plan is None else None
        return relax.call_tir(self._kernel(key, build, tunable), args, relax.TensorType(out_shape, "float32"))

    def _pointwise_knobs(self, x_shape, qdtype, w_shape, geo, conv_geo, qrange, residual: bool, knobs):
        """The layer's knobs, with the tuned algorithm / channel-word tile of ``self.tuning`` under them
        (a layer's own knobs win). Registers a pointwise conv that could use the channel-word kernel
        as a knob task (``self.knob_tasks``, tuned by ``tvm_sepnet.tuning``'s knob search); its key
        names the geometry, not the algorithm or tile (they are what is tuned)."""
        if self.family not in TUNABLE_FAMILIES:
            return knobs
        lo, hi, _ = qrange
        key = f"int8_conv2d_pointwise({x_shape},{qdtype},{w_shape},{geo},{(lo, hi)},{residual})"
        task = self.knob_tasks.get(key)
        if task is None:
            geometry = conv_geometry(x_shape, w_shape, **conv_geo)
            if not pointwise_knob_space(geometry, {**default_knobs("int8_conv2d", self.family), **(knobs or {})}):
                return knobs  # no channel-word kernel for this conv or family: nothing to choose
            layer_knobs = knobs

            def build(point, family=self.family):
                """The kernels of knob setting ``point``: [conv] or, where the conv cannot quantize its
                input itself, [quantize, conv] (the model runs both)."""
                merged = {**(layer_knobs or {}), **point}
                plan = int8_conv2d_weight_plan(x_shape, w_shape, family=family, knobs=merged, **conv_geo)
                fused = fuses_quantize(plan)
                conv = int8_conv2d_prim_func(x_shape, qdtype, w_shape, family=family, knobs=merged, prepacked=True,
                                             residual=residual, quantize=(lo, hi) if fused else None, **geo)
                if fused:
                    return [conv]
                return [quantize_prim_func(x_shape, lo=lo, hi=hi, out_dtype=qdtype, family=family), conv]

            task = self.knob_tasks[key] = {"kind": "int8_conv2d_pointwise", "build": build, "layers": [], "calls": 0,
                                           "geometry": geometry, "knobs": knobs}
        task["calls"] += 1
        task["layers"].append(self.layer)
        if "tuned" not in task:  # looked up once per kernel, as for the MetaSchedule tasks
            task["tuned"] = self.tuning.knobs_for(key, task) if self.tuning is not None else None
        return {**task["tuned"], **(knobs or {})} if task["tuned"] else knobs

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

    ``knobs`` maps a layer name to schedule knobs; ``tuning`` (``tvm_sepnet.tuning.TuningRecords``)
    supplies tuned schedules of the tunable kernels. After the pass ran, ``self.choices`` reports the
    kernel chosen per layer and ``self.tasks`` the tunable kernels (unscheduled and hand-scheduled
    PrimFuncs, layers, calls, and whether the tuned or the hand schedule was used),
    ``self.knob_tasks`` the pointwise int8 convs tuned by knob search (a builder per knob setting) and
    ``self.layer_kernels`` the kernel functions each layer calls."""

    def __init__(self, target="x86", knobs=None, tuning=None):
        self.family = get_target(target).family
        self.knobs = dict(knobs or {})
        self.tuning = tuning
        self.choices: dict[str, str] = {}
        self.tasks: dict[str, dict] = {}
        self.knob_tasks: dict[str, dict] = {}
        self.layer_kernels: dict[str, list[str]] = {}

    def rewrite_module(self, mod):
        lowerer = _Lowerer(mod, self.family, self.knobs, self.tuning)
        out = lowerer.run()
        self.choices = lowerer.choices
        self.tasks = lowerer.tasks
        self.knob_tasks = lowerer.knob_tasks
        self.layer_kernels = lowerer.layer_kernels
        return out
