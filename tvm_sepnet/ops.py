"""The tvm-sepnet graph dialect: one ``sepnet.conv2d`` op that every pass rewrites.

A layer is ``R.call_pure_packed("sepnet.conv2d", x, w, w_scale, bias, R.str(attrs_json)[, residual])``:

* ``x``: float32 NCHW activations (always float at the graph level; an activation quantizer is an
  attribute of the op, expanded into a kernel by ``LowerToKernels``);
* ``w``: constant weights in ``attrs.weight_format``: ``float`` (float32 OIHW), ``binary`` (packed sign
  bits ``(O, KC, KH, KW)``, docs/numerics.md) or ``int8`` (int8 OIHW);
* ``w_scale``: float32 ``(O,)`` (alpha for binary, the int8 step for int8, ones for float);
* ``bias``: float32 ``(O,)``;
* ``residual`` (only with ``attrs.residual``): a float32 tensor of the output's shape added to the
  layer's epilogue result before the ReLU (the pattern residual block's add, or a skip connection;
  fused by ``relay_passes.FuseResidualAdd``): ``out = relu?(epilogue(acc) + residual)``; with
  ``attrs.residual_quant`` (a quantizer like ``act``, set by ``relay_passes.QuantizeSkipConnections``) the
  residual is first quantized with it and dequantized, ``float32(clip(rint(r * inv_scale), lo, hi)) * scale``
  (the skip connection carried as the 8-bit codes another layer already reads);
* attrs (JSON): geometry (``strides``, ``padding`` (top, left, bottom, right), ``dilation``, ``groups``,
  ``kernel``, ``channels``, ``in_channels``), ``relu``, ``name``, ``weight_format``, ``act``
  (``{"kind": "float"}``, ``{"kind": "uint", "bits": A, "scale": s}`` or
  ``{"kind": "int", "bits": 8, "scale": s}`` or ``{"kind": "sign"}``: ±1 activations, a *sign layer*, whose
  ``w_scale`` is the per-channel multiplier and ``bias`` the bias of LCE's multiply-add epilogue,
  docs/numerics.md "Sign layers"), ``pad_value`` (sign layers: out-of-image taps are +1 (1, Larq's
  ``pad_values=1``) or 0), ``acc_relu`` (sign layers: LCE's fused ReLU on the ±1 dot product, before the
  multiply-add), ``accumulate`` (``float32`` or ``float64``), ``residual`` (bool: a residual
  operand follows) and ``impl``
  (the kernel of a binary layer with quantized activations: ``auto``/``bitserial`` or ``int8``).

Layout and quantization parameters travel as these explicit attributes, never as global state.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from schedules.common import conv_out_size

CONV_OP = "sepnet.conv2d"


@dataclass(frozen=True)
class ConvAttrs:
    """Attributes of a ``sepnet.conv2d`` layer (see module docstring)."""

    name: str
    channels: int
    in_channels: int
    kernel: tuple
    strides: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    relu: bool = False
    weight_format: str = "float"
    act: dict = field(default_factory=lambda: {"kind": "float"})
    accumulate: str = "float64"
    impl: str = "auto"  # binary layers with quantized activations: bitserial | int8 (ChooseKxkKernels)
    impl_reason: str = ""  # why ChooseKxkKernels chose impl (the estimated or measured costs)
    residual: bool = False  # a residual tensor is added after the epilogue, before the ReLU
    residual_quant: dict | None = None  # the residual is quantized with this quantizer first (skip in 8 bits)
    dense: bool = False  # a dense layer (matmul by a constant matrix) run as this 1×1 conv (WrapConvLayers)
    pad_value: int = 0  # sign layers: value of out-of-image taps (0 or +1)
    acc_relu: bool = False  # sign layers: ReLU on the ±1 dot product before the multiply-add (LCE's fused ReLU)

    @property
    def is_pointwise(self) -> bool:
        return tuple(self.kernel) == (1, 1)

    @property
    def is_depthwise(self) -> bool:
        """A k×k (k > 1) conv with one input channel per group (any channel multiplier)."""
        return self.groups > 1 and self.groups == self.in_channels and not self.is_pointwise

    @property
    def is_sign(self) -> bool:
        """±1 activations (a sign layer: binary weights, XOR + popcount)."""
        return self.act.get("kind") == "sign"

    @property
    def channels_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def kind(self) -> str:
        """Layer kind for reports: binary_conv, binary_weight_conv, int8_conv or float_conv."""
        quantized_act = self.act.get("kind") != "float"
        if self.weight_format == "binary":
            return "binary_conv" if quantized_act else "binary_weight_conv"
        if self.weight_format == "int8":
            return "int8_conv"
        return "float_conv"

    def replace(self, **changes) -> "ConvAttrs":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ConvAttrs":
        d = json.loads(text)
        d.setdefault("impl", "auto")
        d.setdefault("impl_reason", "")
        d.setdefault("residual", False)
        d.setdefault("residual_quant", None)
        d.setdefault("dense", False)
        d.setdefault("pad_value", 0)
        d.setdefault("acc_relu", False)
        for key in ("kernel", "strides", "padding", "dilation"):
            d[key] = tuple(d[key])
        return cls(**d)

    def out_shape(self, x_shape) -> tuple:
        n, _, h, w = (int(v) for v in x_shape)
        kh, kw = self.kernel
        top, left, bottom, right = self.padding
        ho = conv_out_size(h, kh, self.strides[0], top, bottom, self.dilation[0])
        wo = conv_out_size(w, kw, self.strides[1], left, right, self.dilation[1])
        return (n, self.channels, ho, wo)


def make_conv(x, w: np.ndarray, w_scale: np.ndarray, bias: np.ndarray, attrs: ConvAttrs, residual=None):
    """Build a ``sepnet.conv2d`` call on relax expression ``x`` with constant parameters
    (``residual``: the expression added before the ReLU, iff ``attrs.residual``)."""
    from tvm import relax

    if (residual is not None) != bool(attrs.residual):
        raise ValueError(f"layer {attrs.name!r}: attrs.residual={attrs.residual} but residual operand {residual!r}")
    x_shape = [int(v) for v in x.ty.shape]
    out_ty = relax.TensorType(attrs.out_shape(x_shape), "float32")
    extra = [] if residual is None else [residual]
    return relax.call_pure_packed(
        CONV_OP,
        x,
        relax.const(w),
        relax.const(np.asarray(w_scale, np.float32)),
        relax.const(np.asarray(bias, np.float32)),
        relax.expr.String(attrs.to_json()),
        *extra,
        ty_args=out_ty,
    )


@dataclass
class ConvCall:
    """A parsed ``sepnet.conv2d`` call: the input expression, numpy parameters and attributes."""

    x: object
    w: np.ndarray
    w_scale: np.ndarray
    bias: np.ndarray
    attrs: ConvAttrs
    residual: object = None

    def rebuild(self, x=None, **changes):
        """A new call with some of (w, w_scale, bias, attrs, residual) replaced."""
        fields = {"w": self.w, "w_scale": self.w_scale, "bias": self.bias, "attrs": self.attrs,
                  "residual": self.residual}
        fields.update(changes)
        return make_conv(self.x if x is None else x, fields["w"], fields["w_scale"], fields["bias"], fields["attrs"],
                         fields["residual"])


def parse_conv(expr) -> ConvCall | None:
    """The :class:`ConvCall` of ``expr`` if it is a ``sepnet.conv2d`` call, else None."""
    from tvm import relax

    if not isinstance(expr, relax.Call) or getattr(expr.op, "name", None) != "relax.call_pure_packed":
        return None
    callee = expr.args[0]
    if not isinstance(callee, relax.ExternFunc) or callee.global_symbol != CONV_OP:
        return None
    x, w, w_scale, bias, attrs = expr.args[1:6]
    return ConvCall(
        x=x,
        w=w.value.numpy(),
        w_scale=w_scale.value.numpy(),
        bias=bias.value.numpy(),
        attrs=ConvAttrs.from_json(str(attrs.value)),
        residual=expr.args[6] if len(expr.args) > 6 else None,
    )
