"""Per-element bounds of ``|twin - compiled|`` in the forced ONNX twin (docs/checks.md derives them).

Every value of the forced twin carries ``e``: an ONNX tensor bounding, element by element, how far the
twin's value may lie from the compiled model's, or ``None`` when they are equal bit for bit (a graph
input, a forced layer output, or one IEEE float32 operation applied to equal operands). The magnitude
of a value on either side is at most ``|v| + e``. Rules (``u = 2^-24``, ``gamma`` from :mod:`.contract`):

* moves and max pooling (reshape, transpose, concat, max pool, ReLU, clip, max, min): the same op on ``e``;
* ``k``-term averages (average pooling, global pooling, mean): ``A(e) + 2 gamma(k + 4) A(|v| + e)``;
* add / subtract: ``e_a + e_b + 2u (|a| + |b|)``; multiply: ``e_a |b| + |a| e_b + 2u |a||b|``;
* matmul over ``k``: ``e_a @ |B| + |A| @ e_b + 2 gamma(k + 4) |A| @ |B|``;
* a conv layer with ``n = Cg*KH*KW`` taps and quantized input (step ``s``): ``F`` counts the rounding
  boundaries (half-integers) within ``delta = e_x / s + 4u |x / s|`` of ``x / s`` (computed in
  float64): the compiled ``rint(x * inv_scale)`` and the twin's ``Round(x / scale)`` both lie within
  that distance, so their integers differ by at most ``F`` (0 almost everywhere). With
  ``B = s * Conv(F, |W|)`` and ``S = Conv(|q| s, |W|) + B + |bias| + |residual|``:
  ``tol = B + 2 gamma(n + 16) S + e_residual``: one step per input that may round the other way, plus
  the float32 rounding of both sums (each within ``gamma(n + 8) S``: the twin's products and sum,
  the compiled epilogue's ``offset = bias/scale``, add, multiply and residual add). Float-activation
  layers use ``B = Conv(e_x, |W|)`` and ``S = Conv(|x| + e_x, |W|) + |bias| + ...``.

Ops with no bound here (divide, sigmoid, softmax) are refused in the forced twin; the free-running
twin runs them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedOpError
from .contract import UNIT_ROUNDOFF, gamma

_DOUBLE, _FLOAT = 11, 1  # onnx TensorProto.DOUBLE, TensorProto.FLOAT


@dataclass
class Val:
    """A value of the twin: ONNX name ``v``, bound ``e`` (None: equal to the compiled value), shape,
    and the numpy array of a constant."""

    v: str
    e: str | None = None
    shape: list | None = None
    array: np.ndarray | None = None


class BoundsMixin:
    """The bound half of the twin builder (needs ``self.g``: an OnnxGraph, ``self.bounded``)."""

    def leaf(self, name: str, shape) -> Val:
        return Val(name, None, list(shape) if shape is not None else None)

    def mag(self, x: Val) -> str:
        """Bound of ``|value|`` on both sides: ``|v| + e``."""
        if x.array is not None:
            return self.g.const(np.abs(x.array).astype(np.float32), "abs")
        m = self.g.op("Abs", [x.v])
        return m if x.e is None else self.g.op("Add", [m, x.e], "mag")

    def error_or_zero(self, x: Val) -> str:
        return x.e if x.e is not None else self.g.op("Mul", [x.v, self.g.scalar(0.0)], "zero")

    def _sum(self, terms: list) -> str | None:
        terms = [t for t in terms if t is not None]
        if not terms:
            return None
        out = terms[0]
        for t in terms[1:]:
            out = self.g.op("Add", [out, t], "sum")
        return out

    def _scaled(self, name: str, factor: float) -> str:
        return self.g.op("Mul", [name, self.g.scalar(factor)], "scaled")

    # ---- ops
    def same_op_bound(self, op_type, node, x: Val, v: str, extra, exact_reduction: int, attrs) -> Val:
        e = None if x.e is None else self.g.op(op_type, [x.e, *extra], **attrs)
        if exact_reduction:
            rounding = self._scaled(self.g.op(op_type, [self.mag(x), *extra], **attrs), 2 * gamma(exact_reduction + 4))
            e = self._sum([e, rounding])
        return Val(v, e, node.get("shape"))

    def concat(self, node, xs: list) -> Val:
        v = self.g.op("Concat", [x.v for x in xs], axis=int(node["attrs"]["axis"]))
        if not self.bounded or all(x.e is None for x in xs):
            return Val(v, None, node.get("shape"))
        e = self.g.op("Concat", [self.error_or_zero(x) for x in xs], axis=int(node["attrs"]["axis"]))
        return Val(v, e, node.get("shape"))

    def binary(self, op_type: str, node, a: Val, b: Val) -> Val:
        v = self.g.op(op_type, [a.v, b.v])
        if not self.bounded or (a.e is None and b.e is None):
            return Val(v, None, node.get("shape"))  # one IEEE operation on equal operands: equal results
        if op_type in ("Max", "Min"):
            e = self.g.op("Max", [self.error_or_zero(a), self.error_or_zero(b)])
        elif op_type in ("Add", "Sub"):
            e = self._sum([a.e, b.e, self._scaled(self.g.op("Add", [self.mag(a), self.mag(b)]), 2 * UNIT_ROUNDOFF)])
        else:  # Mul
            ma, mb = self.mag(a), self.mag(b)
            e = self._sum([None if a.e is None else self.g.op("Mul", [a.e, mb]),
                           None if b.e is None else self.g.op("Mul", [ma, b.e]),
                           self._scaled(self.g.op("Mul", [ma, mb]), 2 * UNIT_ROUNDOFF)])
        return Val(v, e, node.get("shape"))

    def matmul(self, node, a: Val, b: Val) -> Val:
        v = self.g.op("MatMul", [a.v, b.v])
        if not self.bounded:
            return Val(v, None, node.get("shape"))
        k = int(a.shape[-1])
        ma, mb = self.mag(a), self.mag(b)
        e = self._sum([None if a.e is None else self.g.op("MatMul", [a.e, mb]),
                       None if b.e is None else self.g.op("MatMul", [ma, b.e]),
                       self._scaled(self.g.op("MatMul", [ma, mb]), 2 * gamma(k + 4))])
        return Val(v, e, node.get("shape"))

    def clip(self, node, x: Val, lo, hi) -> Val:
        v = self.g.op("Clip", [x.v, self.g.scalar(lo), self.g.scalar(hi)])
        return Val(v, x.e if self.bounded else None, node.get("shape"))

    def unbounded(self, op_type: str, node, args: list, **attrs) -> Val:
        if self.bounded:
            raise UnsupportedOpError(f"node {node['name']!r}: op {node['op']!r} has no error bound in the forced twin "
                                     "(docs/checks.md); use the free-running twin")
        return Val(self.g.op(op_type, [a.v for a in args], **attrs), None, node.get("shape"))

    # ---- conv layers
    def flips(self, x: Val, scale: np.float32) -> str:
        """How many rounding boundaries lie within float32 rounding (and ``e_x``) of ``x / scale``:
        the most by which the compiled and the twin's quantized integers can differ."""
        s = float(scale)
        r = self.g.op("Div", [self.g.op("Cast", [x.v], to=_DOUBLE), self.g.scalar(s, np.float64)], "r")
        delta = self.g.op("Add", [self.g.op("Mul", [self.g.op("Abs", [r]), self.g.scalar(4 * UNIT_ROUNDOFF, np.float64)]),
                                  self.g.scalar(1e-12, np.float64)], "delta")
        if x.e is not None:
            ex = self.g.op("Div", [self.g.op("Cast", [x.e], to=_DOUBLE), self.g.scalar(s, np.float64)])
            delta = self.g.op("Add", [delta, self._scaled_d(ex, 1 + 8 * UNIT_ROUNDOFF)], "delta")
        half = self.g.scalar(0.5, np.float64)
        up = self.g.op("Floor", [self.g.op("Add", [self.g.op("Add", [r, delta]), half])])
        down = self.g.op("Floor", [self.g.op("Add", [self.g.op("Sub", [r, delta]), half])])
        return self.g.op("Cast", [self.g.op("Sub", [up, down])], "flips", to=_FLOAT)

    def _scaled_d(self, name: str, factor: float) -> str:
        return self.g.op("Mul", [name, self.g.scalar(factor, np.float64)], "scaled")

    def conv_bound(self, x: Val, q: str | None, scale, weights: np.ndarray, bias: np.ndarray, residual: Val | None,
                   conv_attrs: dict) -> tuple[str, str | None]:
        """(per-element bound of ``|twin - compiled|``, flip counts of the inputs or None) of one layer."""
        abs_w = self.g.const(np.abs(weights).astype(np.float32), "abs_w")
        n = int(np.prod(weights.shape[1:]))
        conv = lambda t: self.g.op("Conv", [t, abs_w], "bound_conv", **conv_attrs)
        flips = None
        if q is not None:
            k = self.g.scalar(scale)
            flips = self.flips(x, scale)
            step_terms = conv(self.g.op("Mul", [flips, k]))
            magnitude = conv(self.g.op("Mul", [self.g.op("Abs", [q]), k]))
        else:
            step_terms = None if x.e is None else conv(x.e)
            magnitude = conv(self.mag(x))
        abs_b = self.g.const(np.abs(bias).reshape(1, -1, 1, 1).astype(np.float32), "abs_b")
        total = self._sum([magnitude, step_terms, abs_b, None if residual is None else self.mag(residual)])
        tol = self._sum([step_terms, self._scaled(total, 2 * gamma(n + 16)), None if residual is None else residual.e])
        return tol, flips
