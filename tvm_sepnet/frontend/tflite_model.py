"""``.tflite`` files (the ones Larq Compute Engine runs) -> float Relax modules, without TensorFlow.

The flatbuffer is read with the ``tflite`` package (the TFLite schema, generated code) and LCE's custom
op options with ``flatbuffers.flexbuffers``. The graph becomes a :class:`tvm_sepnet.models.Net` (NCHW),
then Relax (``models.to_relax``):

============================  =====================================================================
TFLite op                     becomes
============================  =====================================================================
``LceQuantize``               nothing: a bitpacked tensor is the sign of a float tensor (bit 1 = -1,
                              32 channels per int32, LSB first), which the consuming sign layer
                              binarizes itself (0 -> +1, as ``LceQuantize``'s ``x < 0``)
``LceBconv2d``                ``sign_conv2d`` (docs/numerics.md "Sign layers"): filter OHWI bitpacked
                              words -> ±1 OIHW; ``post_activation_multiplier``/``bias`` -> the
                              multiply-add, ``fused_activation_function`` RELU -> ``acc_relu``,
                              ``pad_values``, SAME/VALID, strides, dilation; groups from the filter's
                              words. With an ``output_threshold`` (bitpacked output: bit 1 iff the
                              popcount exceeds it) the multiply-add ``m2 = -1``, ``c = threshold + 0.5``
                              (``mult = 0.5``, ``bias = threshold + 0.5 - K / 2``): its sign is the same bit
``LceBMaxPool2d``             ``max_pool2d`` on the float tensor (the max of ±1 values is the sign of the
                              max; out-of-image positions ignored, as LCE's)
``LceDequantize``             ``sign`` (values ±1)
``CONV_2D``,                  ``conv2d`` (OHWI / 1HWC filters -> OIHW; grouped when the filter has fewer
``DEPTHWISE_CONV_2D``         input channels; SAME padding as TensorFlow: the odd pixel at the end)
``ADD``, ``CONCATENATION``,   ``add``, ``concat`` (axis -1 -> 1), ``max_pool2d`` / ``avg_pool2d`` (padding
``MAX_POOL_2D``,              excluded from the count), ``global_avg_pool2d`` (+ ``flatten``),
``AVERAGE_POOL_2D``, ``MEAN``
``FULLY_CONNECTED``,          ``dense`` (after ``flatten``; the input's pixels must be 1x1), ``flatten``,
``RESHAPE``, ``SOFTMAX``,     ``softmax`` (beta 1), ``relu``
``RELU``, ``RELU6``,           ``clip``
``RELU_N1_TO_1``
``DEQUANTIZE``                of a constant (float16 or int8 weights): folded into a float32 constant
============================  =====================================================================

Fused activations: NONE, RELU, RELU6, RELU_N1_TO_1. Anything else (an op, an option, a data type) raises
:class:`UnsupportedOpError` naming the operator, its index and its output tensor.

The model takes NCHW input (the file's NHWC input, transposed) and gives NCHW outputs (2-D outputs are
unchanged).
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import InvalidModelError, UnsupportedOpError
from .loaded import LoadedModel

TFLITE_CONFIG = {"kxk": "float", "pointwise": "float", "act_bits": None}  # sign layers come binary already
SUPPORTED_TFLITE_OPS = frozenset({
    "LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD",
    "CONCATENATION", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX", "RELU",
    "DEQUANTIZE", "RELU6", "RELU_N1_TO_1",
})
_NP_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT8": np.int8, "UINT8": np.uint8,
             "INT64": np.int64, "INT16": np.int16}


def _enum_names(enum) -> dict:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


class _Reader:
    """The first subgraph of a ``.tflite`` flatbuffer: tensors (name, type, shape, constant data) and
    operators (kind, inputs, outputs, options)."""

    def __init__(self, raw: bytes, where: str):
        import tflite
        from flatbuffers import flexbuffers

        self.tflite, self.flexbuffers, self.where = tflite, flexbuffers, where
        if len(raw) < 8 or raw[4:8] != b"TFL3":
            raise InvalidModelError(f"{where}: not a TFLite flatbuffer (no 'TFL3' identifier)")
        try:
            self.model = tflite.Model.GetRootAsModel(raw, 0)
            self.graph = self.model.Subgraphs(0)
            self.raw = raw
            self.types = _enum_names(tflite.TensorType)
            self.acts = _enum_names(tflite.ActivationFunctionType)
            self.paddings = _enum_names(tflite.Padding)
            self.codes = [self._opcode(self.model.OperatorCodes(i)) for i in range(self.model.OperatorCodesLength())]
            self.tensors = [self._tensor(i) for i in range(self.graph.TensorsLength())]
        except (IndexError, AttributeError, ValueError, TypeError, __import__("struct").error) as err:
            raise InvalidModelError(f"{where}: malformed or truncated TFLite file ({err})") from err
        if self.model.SubgraphsLength() != 1:
            raise UnsupportedOpError(f"{where}: {self.model.SubgraphsLength()} subgraphs; only single-subgraph models "
                                     "are supported")

    def _opcode(self, oc) -> str:
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == self.tflite.BuiltinOperator.CUSTOM:
            return oc.CustomCode().decode()
        return self.tflite.utils.BUILTIN_OPCODE2NAME.get(code, f"builtin#{code}")

    def _tensor(self, i: int) -> dict:
        t = self.graph.Tensors(i)
        ty = self.types.get(t.Type(), str(t.Type()))
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        data = None
        buf = self.model.Buffers(t.Buffer())
        raw = b""
        if buf is not None and buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
        elif buf is not None and buf.Offset() > 1:  # large models: data after the flatbuffer
            raw = bytes(self.raw[buf.Offset(): buf.Offset() + buf.Size()])
        if raw:
            if ty not in _NP_TYPES:
                raise UnsupportedOpError(f"{self.where}: tensor {i} ({t.Name().decode()!r}) has data type {ty}")
            data = np.frombuffer(raw, _NP_TYPES[ty]).reshape(shape).copy()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength():
            quant = {"scale": q.ScaleAsNumpy().astype(np.float32), "zero_point": q.ZeroPointAsNumpy().astype(np.int64),
                     "axis": int(q.QuantizedDimension())}
        return {"index": i, "name": t.Name().decode(), "type": ty, "shape": shape, "data": data, "quant": quant}

    def operators(self):
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            kind = self.codes[op.OpcodeIndex()]
            yield {"index": i, "op": kind, "inputs": [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else [],
                   "outputs": [int(v) for v in op.OutputsAsNumpy()], "options": self._options(op, kind)}

    def _options(self, op, kind: str) -> dict:
        if op.CustomOptionsLength():
            if op.CustomOptionsFormat() != self.tflite.CustomOptionsFormat.FLEXBUFFERS:
                raise UnsupportedOpError(f"{self.where}: custom op {kind!r} has non-flexbuffer options")
            return dict(self.flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes()))
        opt_type = op.BuiltinOptionsType()
        if not opt_type:
            return {}
        name = _enum_names(self.tflite.BuiltinOptions)[opt_type]
        table = op.BuiltinOptions()
        obj = getattr(self.tflite, name)()
        obj.Init(table.Bytes, table.Pos)
        out = {}
        for field in ("Padding", "StrideH", "StrideW", "DilationHFactor", "DilationWFactor", "FusedActivationFunction",
                      "FilterHeight", "FilterWidth", "DepthMultiplier", "Axis", "KeepDims", "Beta", "KeepNumDims",
                      "WeightsFormat", "AsymmetricQuantizeInputs"):
            if hasattr(obj, field):
                out[field] = getattr(obj, field)()
        if "Padding" in out:
            out["Padding"] = self.paddings[out["Padding"]]
        if "FusedActivationFunction" in out:
            out["FusedActivationFunction"] = self.acts[out["FusedActivationFunction"]]
        return out


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after): the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Converter:
    def __init__(self, reader: _Reader, name: str):
        from ..models.graph import NetBuilder

        self.r, self.where = reader, name
        inputs = [int(v) for v in reader.graph.InputsAsNumpy()]
        if len(inputs) != 1:
            raise UnsupportedOpError(f"{name}: {len(inputs)} inputs; only single-input models are supported")
        t = reader.tensors[inputs[0]]
        if t["type"] != "FLOAT32" or len(t["shape"]) not in (2, 4):
            raise UnsupportedOpError(f"{name}: input {t['name']!r} is {t['type']} {t['shape']}; a float32 NHWC image "
                                     "(or a float32 (N, features) matrix) is expected")
        shape = t["shape"] if len(t["shape"]) == 2 else (t["shape"][0], t["shape"][3], t["shape"][1], t["shape"][2])
        self.b = NetBuilder(os.path.splitext(os.path.basename(name))[0], shape)
        self.value = {inputs[0]: self.b.input}  # tensor index -> Net tensor name (float, NCHW)
        self.bits = {}  # bitpacked tensor index -> (Net tensor whose sign it holds, channels)
        self.consts = {}
        self.params = {}
        self.op = None

    def fail(self, what: str):
        op = self.op
        out = self.r.tensors[op["outputs"][0]]["name"] if op and op["outputs"] else "?"
        raise UnsupportedOpError(f"{self.where}: operator #{op['index']} {op['op']} (output {out!r}): {what}")

    def const(self, i: int):
        if i in self.consts:
            return self.consts[i]
        t = self.r.tensors[i]
        if t["data"] is None:
            self.fail(f"input tensor {t['name']!r} must be a constant")
        data = t["data"]
        if t["quant"] is not None and data.dtype != np.int32:
            self.fail(f"quantized constant {t['name']!r} ({t['type']}) is not supported; convert the model to float")
        return data

    def x(self, i: int) -> str:
        if i not in self.value:
            if i in self.bits:
                self.fail("reads a bitpacked tensor; only LCE ops take bitpacked inputs")
            self.fail(f"input tensor {self.r.tensors[i]['name']!r} is not produced by a supported operator")
        return self.value[i]

    def act(self, name: str, fused: str) -> str:
        if fused == "NONE":
            return name
        if fused == "RELU":
            return self.b.relu(name, f"{name}.relu")
        if fused in _CLIPS:
            return self.b.clip(name, *_CLIPS[fused], name=f"{name}.clip")
        self.fail(f"fused activation {fused} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1)")

    def param(self, key: str, value: np.ndarray) -> None:
        self.params[key] = np.ascontiguousarray(value, dtype=np.float32)

    def run(self):
        for op in self.r.operators():
            self.op = op
            kind = op["op"]
            if kind not in SUPPORTED_TFLITE_OPS:
                self.fail(f"not supported by tvm-sepnet; supported: {', '.join(sorted(SUPPORTED_TFLITE_OPS))}")
            getattr(self, "op_" + kind.lower())(op, op["options"])
        outputs = [int(v) for v in self.r.graph.OutputsAsNumpy()]
        if len(outputs) != 1:
            raise UnsupportedOpError(f"{self.where}: {len(outputs)} outputs; only single-output models are supported")
        self.op = None
        out = outputs[0]
        if out in self.bits:
            raise UnsupportedOpError(f"{self.where}: the output is a bitpacked tensor; end the model with LceDequantize")
        last = self.b.net.nodes[-1].output if self.b.net.nodes else None
        if self.value.get(out) != last:
            raise UnsupportedOpError(f"{self.where}: the output tensor is not the last operator's output")
        net = self.b.net
        net.params = {k: self.params[k] for k in net.param_shapes()}
        return net

    # ---- LCE ops
    def op_lcequantize(self, op, o):
        src = self.x(op["inputs"][0])
        self.bits[op["outputs"][0]] = (src, self.r.tensors[op["inputs"][0]]["shape"][-1])

    def op_lcedequantize(self, op, o):
        src, _ = self._bits_in(op["inputs"][0])
        self.value[op["outputs"][0]] = self.b.sign(src, f"op{op['index']}_dequantize")

    def _bits_in(self, i):
        if i not in self.bits:
            self.fail("expects a bitpacked input (from LceQuantize, LceBconv2d or LceBMaxPool2d)")
        return self.bits[i]

    def op_lcebconv2d(self, op, o):
        ins = op["inputs"] + [-1] * (5 - len(op["inputs"]))
        src, _ = self._bits_in(ins[0])
        filt = self.const(ins[1])
        if filt.dtype != np.int32 or filt.ndim != 4:
            self.fail(f"filter must be bitpacked int32 OHWI, got {filt.dtype} {filt.shape}")
        cin = int(o.get("channels_in", 0))
        o_n, kh, kw, words = filt.shape
        groups = max(1, -(-cin // 32) // words) if cin % 32 == 0 else 1
        cg = cin // groups
        if cg * groups != cin or -(-cg // 32) != words:
            self.fail(f"channels_in {cin} does not fit a filter of {words} words per group")
        signs = _unpack_lce_words(filt, cg)  # (O, kh, kw, Cg) ±1
        out_t = self.r.tensors[op["outputs"][0]]
        k = kh * kw * cg
        if ins[4] >= 0:  # bitpacked output: bit 1 iff popcount > threshold
            if out_t["type"] != "INT32":
                self.fail(f"output threshold with a {out_t['type']} output")
            thr = self.const(ins[4]).astype(np.float64)
            mult = np.full(o_n, 0.5, np.float32)
            bias = (thr + 0.5 - k * 0.5).astype(np.float32)
            acc_relu = False  # LCE ignores the fused activation here: the converter folded it into the threshold
        else:
            if out_t["type"] != "FLOAT32":
                self.fail(f"{out_t['type']} output is not supported (float32 or bitpacked)")
            mult = self.const(ins[2]).astype(np.float32) if ins[2] >= 0 else np.ones(o_n, np.float32)
            bias = self.const(ins[3]).astype(np.float32) if ins[3] >= 0 else np.zeros(o_n, np.float32)
            fused = o.get("fused_activation_function", 0)
            if fused not in (0, 1):
                self.fail(f"fused_activation_function {fused} is not supported (0 NONE, 1 RELU)")
            acc_relu = fused == 1
        pad_value = int(o.get("pad_values", 0))
        if pad_value not in (0, 1):
            self.fail(f"pad_values must be 0 or 1, got {pad_value}")
        strides = (int(o.get("stride_height", 1)), int(o.get("stride_width", 1)))
        dil = (int(o.get("dilation_height_factor", 1)), int(o.get("dilation_width_factor", 1)))
        _, _, h, w = self.b.shape(src)
        padding = self._padding(o.get("padding", 1) == 0, h, w, (kh, kw), strides, dil)
        name = f"op{op['index']}_bconv"
        y = self.b.sign_conv(name, src, o_n, (kh, kw), stride=strides, padding=padding, dilation=dil, groups=groups,
                             pad_value=pad_value, acc_relu=acc_relu)
        self.param(f"{name}.weight", np.moveaxis(signs, -1, 1))
        self.param(f"{name}.multiplier", mult)
        self.param(f"{name}.bias", bias)
        if ins[4] >= 0:
            self.bits[op["outputs"][0]] = (y, o_n)
        else:
            self.value[op["outputs"][0]] = y

    def op_lcebmaxpool2d(self, op, o):
        src, c = self._bits_in(op["inputs"][0])
        kernel = (int(o["filter_height"]), int(o["filter_width"]))
        strides = (int(o.get("stride_height", 1)), int(o.get("stride_width", 1)))
        _, _, h, w = self.b.shape(src)
        padding = self._padding(o.get("padding", 1) == 0, h, w, kernel, strides, (1, 1))
        y = self.b.max_pool(f"op{op['index']}_bmaxpool", src, kernel, strides, padding)
        self.bits[op["outputs"][0]] = (y, c)

    def _padding(self, same: bool, h, w, kernel, strides, dilation):
        if not same:
            return (0, 0, 0, 0)
        top, bottom = same_padding(h, kernel[0], strides[0], dilation[0])
        left, right = same_padding(w, kernel[1], strides[1], dilation[1])
        return (top, left, bottom, right)

    # ---- builtins
    def _conv(self, op, o, depthwise: bool):
        ins = op["inputs"] + [-1] * (3 - len(op["inputs"]))
        src = self.x(ins[0])
        filt = self.const(ins[1]).astype(np.float32)
        _, c, h, w = self.b.shape(src)
        if depthwise:  # (1, kh, kw, C * multiplier)
            _, kh, kw, oc = filt.shape
            weight, groups = np.moveaxis(filt, -1, 0).reshape(oc, 1, kh, kw), c
        else:  # (O, kh, kw, I)
            oc, kh, kw, ci = filt.shape
            if c % ci:
                self.fail(f"filter of {ci} input channels does not divide the input's {c}")
            weight, groups = np.moveaxis(filt, -1, 1), c // ci
        strides = (int(o["StrideH"]), int(o["StrideW"]))
        dil = (int(o.get("DilationHFactor", 1)), int(o.get("DilationWFactor", 1)))
        padding = self._padding(o["Padding"] == "SAME", h, w, (kh, kw), strides, dil)
        name = f"op{op['index']}_{'dwconv' if depthwise else 'conv'}"
        y = self.b.add_node("conv2d", name, [src], channels=int(oc), kernel=(kh, kw), strides=strides, padding=padding,
                            dilation=dil, groups=int(groups), bias=ins[2] >= 0)
        self.param(f"{name}.weight", weight)
        if ins[2] >= 0:
            self.param(f"{name}.bias", self.const(ins[2]))
        self.value[op["outputs"][0]] = self.act(y, o.get("FusedActivationFunction", "NONE"))

    def op_conv_2d(self, op, o):
        self._conv(op, o, False)

    def op_depthwise_conv_2d(self, op, o):
        self._conv(op, o, True)

    def op_add(self, op, o):
        a, b = (self.x(i) for i in op["inputs"])
        if self.b.shape(a) != self.b.shape(b):
            self.fail(f"broadcasting add of {self.b.shape(a)} and {self.b.shape(b)} is not supported")
        y = self.b.add(f"op{op['index']}_add", a, b)
        self.value[op["outputs"][0]] = self.act(y, o.get("FusedActivationFunction", "NONE"))

    def op_relu(self, op, o):
        self.value[op["outputs"][0]] = self.b.relu(self.x(op["inputs"][0]), f"op{op['index']}_relu")

    def op_relu6(self, op, o):
        self.value[op["outputs"][0]] = self.b.clip(self.x(op["inputs"][0]), 0.0, 6.0, name=f"op{op['index']}_relu6")

    def op_relu_n1_to_1(self, op, o):
        self.value[op["outputs"][0]] = self.b.clip(self.x(op["inputs"][0]), -1.0, 1.0, name=f"op{op['index']}_clip")

    def op_concatenation(self, op, o):
        xs = [self.x(i) for i in op["inputs"]]
        rank = len(self.r.tensors[op["inputs"][0]]["shape"])
        if int(o.get("Axis", -1)) % rank != rank - 1:
            self.fail("concatenation along another axis than channels")
        y = self.b.concat(f"op{op['index']}_concat", xs)
        self.value[op["outputs"][0]] = self.act(y, o.get("FusedActivationFunction", "NONE"))

    def _pool(self, op, o, kind):
        src = self.x(op["inputs"][0])
        _, _, h, w = self.b.shape(src)
        kernel, strides = (int(o["FilterHeight"]), int(o["FilterWidth"])), (int(o["StrideH"]), int(o["StrideW"]))
        padding = self._padding(o["Padding"] == "SAME", h, w, kernel, strides, (1, 1))
        pool = self.b.max_pool if kind == "max" else self.b.avg_pool
        y = pool(f"op{op['index']}_{kind}pool", src, kernel, strides, padding)
        self.value[op["outputs"][0]] = self.act(y, o.get("FusedActivationFunction", "NONE"))

    def op_max_pool_2d(self, op, o):
        self._pool(op, o, "max")

    def op_average_pool_2d(self, op, o):
        self._pool(op, o, "avg")

    def op_mean(self, op, o):
        src = self.x(op["inputs"][0])
        axes = sorted(int(a) % 4 for a in np.atleast_1d(self.const(op["inputs"][1])))
        if axes != [1, 2]:
            self.fail(f"mean over axes {axes} (only the spatial axes 1, 2 of NHWC)")
        y = self.b.global_avg_pool(f"op{op['index']}_mean", src)
        if not o.get("KeepDims", False):
            y = self.b.flatten(f"op{op['index']}_flatten", y)
        self.value[op["outputs"][0]] = y

    def _flat(self, src, index):
        shape = self.b.shape(src)
        if len(shape) == 2:
            return src
        if any(s != 1 for s in shape[2:]):
            self.fail(f"flattening a {shape} NCHW tensor (pixels > 1) would change the element order of NHWC")
        return self.b.flatten(f"op{index}_flatten", src)

    def op_reshape(self, op, o):
        out = self.r.tensors[op["outputs"][0]]["shape"]
        if len(out) != 2:
            self.fail(f"reshape to {out} (only flattening to 2-D)")
        self.value[op["outputs"][0]] = self._flat(self.x(op["inputs"][0]), op["index"])

    def op_fully_connected(self, op, o):
        ins = op["inputs"] + [-1] * (3 - len(op["inputs"]))
        src = self._flat(self.x(ins[0]), op["index"])
        weight = self.const(ins[1]).astype(np.float32)
        if weight.ndim != 2 or weight.shape[1] != self.b.shape(src)[1]:
            self.fail(f"weights {weight.shape} do not fit the input {self.b.shape(src)}")
        name = f"op{op['index']}_fc"
        y = self.b.dense(name, src, weight.shape[0])
        self.param(f"{name}.weight", weight)
        self.param(f"{name}.bias", self.const(ins[2]) if ins[2] >= 0 else np.zeros(weight.shape[0], np.float32))
        self.value[op["outputs"][0]] = self.act(y, o.get("FusedActivationFunction", "NONE"))

    def op_softmax(self, op, o):
        src = self.x(op["inputs"][0])
        if float(o.get("Beta", 1.0)) != 1.0 or len(self.b.shape(src)) != 2:
            self.fail("softmax with beta != 1 or over a non-2-D tensor")
        self.value[op["outputs"][0]] = self.b.softmax(f"op{op['index']}_softmax", src)

    def op_dequantize(self, op, o):
        t = self.r.tensors[op["inputs"][0]]
        if t["data"] is None:
            self.fail("dequantizing a run-time tensor (an int8 model) is not supported; only constant weights")
        data = t["data"]
        if t["quant"] is not None:
            q = t["quant"]
            shape = [1] * data.ndim
            if q["scale"].size > 1:
                shape[q["axis"]] = -1
            data = (data.astype(np.float32) - q["zero_point"].reshape(shape)) * q["scale"].reshape(shape)
        self.consts[op["outputs"][0]] = data.astype(np.float32)


_CLIPS = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def _unpack_lce_words(words: np.ndarray, channels: int) -> np.ndarray:
    """LCE bitpacked int32 (..., ceil(C/32)) -> ±1 int8 (..., C): bit c % 32 of word c // 32, bit 1 = -1."""
    by = np.ascontiguousarray(words.astype("<i4")).view(np.uint8)
    bits = np.unpackbits(by, axis=-1, bitorder="little")[..., :channels]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)


def read_tflite(path: str):
    """The :class:`tvm_sepnet.models.Net` of a ``.tflite`` file; InvalidModelError / UnsupportedOpError
    for a bad or unsupported file."""
    if not os.path.isfile(path):
        raise InvalidModelError(f"TFLite file {path!r} does not exist")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        import tflite  # noqa: F401
    except ImportError as err:
        raise InvalidModelError("reading .tflite files needs the 'tflite' package (pip install tflite)") from err
    import struct

    try:
        return _Converter(_Reader(raw, path), path).run()
    except (struct.error, IndexError, AttributeError, TypeError, UnicodeDecodeError) as err:
        raise InvalidModelError(f"{path!r}: malformed or truncated TFLite file ({type(err).__name__}: {err})") from err


def load_tflite(path: str) -> LoadedModel:
    """A :class:`LoadedModel` from a ``.tflite`` file (LCE or plain float TFLite; weights as constants)."""
    from ..models import to_relax

    net = read_tflite(path)
    return LoadedModel(os.path.basename(path), to_relax(net), [], dict(TFLITE_CONFIG))
