"""TE compute of the grouped int8 conv2d with int32 accumulation and the integer epilogue.

Contract (docs/numerics.md):

- ``xq[n, c, h, w]``: uint8 or int8 activations, NCHW (``C = groups * Cg``).
- ``wq[o, i, ky, kx]``: int8 weights, OIHW with ``I = Cg``; output channel ``o`` belongs to group
  ``g = o // (O / groups)`` and reads input channels ``g*Cg .. g*Cg + Cg - 1``.
- ``acc[n, o, y, x]`` (int32) ``= sum_{i, ky, kx} int32(xq[n, g*Cg + i, y*sh + ky*dh - top,
  x*sw + kx*dw - left]) * int32(wq[o, i, ky, kx])``; taps outside the input read 0 (zero padding,
  ``padding = (top, left, bottom, right)``). Exact: no overflow for ``Cg*KH*KW < 2^16``.
- ``out[n, o, y, x]`` (float32, NCHW) is the integer epilogue of ``acc``
  (``schedules.common.integer_epilogue_te``): ``(float32(acc) + offset[o]) * scale[o]``, or
  ``offset[o]`` where ``scale[o] == 0``, plus ``residual[n, o, y, x]`` (float32) for a residual
  layer, then ``max(., 0)`` with ``relu``.

Stages: ``pad`` (only with non-zero padding), ``acc``, ``out``.
"""
from __future__ import annotations

from tvm import te, tirx

from schedules.common import conv_out_size, integer_epilogue_te, normalize_padding


def _i64(value: int):
    return tirx.IntImm("int64", int(value))


def _ints(shape) -> list[int]:
    return [int(s) for s in shape]


def pad_nchw(x: te.Tensor, padding, name: str = "pad") -> te.Tensor:
    """Zero-pad the H and W axes of an NCHW tensor; ``padding = (top, left, bottom, right)``.

    Returns ``x`` itself when there is no padding, else a separate ``pad`` stage.
    """
    top, left, bottom, right = normalize_padding(padding)
    if (top, left, bottom, right) == (0, 0, 0, 0):
        return x
    n, c, h, w = _ints(x.shape)
    zero = tirx.const(0, x.dtype)

    def body(nn, cc, yy, xx):
        inside = tirx.all(yy >= top, yy < top + h, xx >= left, xx < left + w)
        return tirx.if_then_else(inside, x[nn, cc, yy - top, xx - left], zero)

    shape = [_i64(v) for v in (n, c, h + top + bottom, w + left + right)]
    return te.compute(shape, body, name=name)


def conv_geometry(x_shape, w_shape, *, strides, padding, dilation, groups: int) -> dict:
    """Checked sizes of a grouped NCHW x OIHW convolution.

    Keys: ``n, c, h, w, o, cg, kh, kw, og, ho, wo, sh, sw, dh, dw, pad`` (``pad`` is
    ``(top, left, bottom, right)``, ``og = O / groups`` output channels per group).
    """
    n, c, h, w = _ints(x_shape)
    o, cg, kh, kw = _ints(w_shape)
    groups = int(groups)
    if groups < 1 or c != cg * groups or o % groups:
        raise ValueError(f"inconsistent conv shapes: x {(n, c, h, w)}, w {(o, cg, kh, kw)}, groups {groups}")
    sh, sw = (int(s) for s in strides)
    dh, dw = (int(d) for d in dilation)
    pad = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, pad[0], pad[2], dh)
    wo = conv_out_size(w, kw, sw, pad[1], pad[3], dw)
    if ho < 1 or wo < 1:
        raise ValueError(f"empty conv output {ho}x{wo} for input {h}x{w}, kernel {kh}x{kw}")
    return dict(n=n, c=c, h=h, w=w, o=o, cg=cg, kh=kh, kw=kw, og=o // groups, ho=ho, wo=wo, sh=sh, sw=sw, dh=dh, dw=dw, pad=pad)


def grouped_conv_sum(x: te.Tensor, w_shape, weight_at, product, *, strides, padding, dilation, groups: int,
                     name: str = "acc") -> te.Tensor:
    """``acc[n, o, y, x] = sum_{i, ky, kx} product(xv, weight_at(o, i, ky, kx))`` (grouped conv).

    ``xv`` is the zero-padded input element ``x[n, g*Cg + i, y*sh + ky*dh - top, x*sw + kx*dw - left]``
    with ``g = o // (O / groups)``; ``w_shape = (O, Cg, KH, KW)`` is the logical weight shape;
    ``product`` returns the accumulator-typed term. Padding goes through :func:`pad_nchw`.
    """
    geo = conv_geometry(x.shape, w_shape, strides=strides, padding=padding, dilation=dilation, groups=groups)
    xpad = pad_nchw(x, geo["pad"])
    cg, og, sh, sw, dh, dw = (geo[k] for k in ("cg", "og", "sh", "sw", "dh", "dw"))
    ic = te.reduce_axis((_i64(0), _i64(cg)), name="ic")
    ky = te.reduce_axis((_i64(0), _i64(geo["kh"])), name="ky")
    kx = te.reduce_axis((_i64(0), _i64(geo["kw"])), name="kx")

    def body(nn, oo, yy, xx):
        xv = xpad[nn, (oo // og) * cg + ic, yy * sh + ky * dh, xx * sw + kx * dw]
        return te.sum(product(xv, weight_at(oo, ic, ky, kx)), axis=[ic, ky, kx])

    shape = [_i64(v) for v in (geo["n"], geo["o"], geo["ho"], geo["wo"])]
    return te.compute(shape, body, name=name)


def int8_accumulate(xq: te.Tensor, wq: te.Tensor, *, strides, padding, dilation, groups: int) -> te.Tensor:
    """int32 ``acc[n, o, y, x]`` of the contract above."""
    if xq.dtype not in ("uint8", "int8") or wq.dtype != "int8":
        raise ValueError(f"int8_conv2d wants uint8/int8 activations and int8 weights, got {xq.dtype} and {wq.dtype}")
    return grouped_conv_sum(
        xq, wq.shape, lambda oo, ii, yy, xx: wq[oo, ii, yy, xx],
        lambda xv, wv: xv.astype("int32") * wv.astype("int32"),
        strides=strides, padding=padding, dilation=dilation, groups=groups,
    )


def int8_conv2d(xq: te.Tensor, wq: te.Tensor, scale: te.Tensor, offset: te.Tensor, *, strides=(1, 1), padding=0,
                dilation=(1, 1), groups: int = 1, relu: bool = False, residual: te.Tensor | None = None) -> te.Tensor:
    """float32 ``(N, O, Ho, Wo)``: the integer epilogue of :func:`int8_accumulate`.

    ``scale`` and ``offset`` are float32 ``(O,)``; ``residual`` None or float32 ``(N, O, Ho, Wo)``.
    """
    acc = int8_accumulate(xq, wq, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return te.compute(acc.shape, lambda nn, oo, yy, xx: integer_epilogue_te(
        acc[nn, oo, yy, xx], scale, offset, oo, relu, None if residual is None else residual[nn, oo, yy, xx]), name="out")
