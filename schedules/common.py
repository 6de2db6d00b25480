"""Pieces shared by several kernels: pack-word choice, output sizes and the integer epilogue.

The integer epilogue (docs/numerics.md) turns an int32 accumulator into float32:
``y = (float32(acc) + offset[o]) * scale[o]`` if ``scale[o] != 0`` else ``offset[o]``, then
``max(y, 0)`` with ``relu``. Add-then-multiply, so no FMA contraction can change the result.
A residual layer adds a float32 ``r`` (same shape as the output) before the ReLU:
``relu?(y + r)``, with an ``llvm.arithmetic.fence`` on ``y`` so that LLVM cannot contract the multiply
into that add (without it the scalar tails of the pairs kernel became FMAs: docs/numerics.md).
"""
from __future__ import annotations

import numpy as np

PACK_DTYPES = {8: "uint8", 16: "uint16", 32: "uint32", 64: "uint64"}


def act_range(kind: str, bits: int) -> tuple[int, int, str]:
    """(lo, hi, dtype) of an activation quantizer (docs/numerics.md): ``uint`` A-bit is ``[0, 2^A - 1]``
    in uint8; ``int`` A-bit is symmetric ``[-(2^(A-1) - 1), 2^(A-1) - 1]`` in int8."""
    if kind == "uint":
        return 0, (1 << bits) - 1, "uint8"
    if kind == "int":
        hi = (1 << (bits - 1)) - 1
        return -hi, hi, "int8"
    raise ValueError(f"activation quantizer kind must be 'uint' or 'int', got {kind!r}")


def placeholder(shape, dtype: str, name: str):
    """A TE placeholder with int64 shape values (Relax's FuseTIR wants int64 buffer shapes)."""
    from tvm import te, tirx

    return te.placeholder([tirx.IntImm("int64", int(s)) for s in shape], dtype, name=name)


def pack_bits_for(channels_per_group: int) -> int:
    """Bits per pack word for a group of ``channels_per_group`` input channels (32, 16 or 8)."""
    if channels_per_group % 32 == 0:
        return 32
    if channels_per_group % 16 == 0:
        return 16
    return 8


def num_words(channels_per_group: int, pack_bits: int) -> int:
    """Words needed to hold ``channels_per_group`` bits (channels are zero-padded to a word)."""
    return -(-channels_per_group // pack_bits)


def conv_out_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1) -> int:
    """Output length of a convolution along one axis."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def normalize_padding(padding) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, a (h, w) pair or a 4-tuple."""
    if np.ndim(padding) == 0:
        return (int(padding),) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return (padding[0], padding[1], padding[0], padding[1])
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int, (h, w) or (top, left, bottom, right), got {padding}")


def integer_epilogue_te(acc, scale, offset, o, relu: bool, residual=None):
    """TE expression of the integer epilogue for one element (acc: int32 expr, o: channel index,
    residual: the float32 residual element or None)."""
    from tvm import tirx

    accf = acc.astype("float32")
    y = tirx.Select(scale[o] != tirx.const(0.0, "float32"), (accf + offset[o]) * scale[o], offset[o])
    if residual is not None:  # the fence keeps LLVM from contracting the multiply into this add (FMA)
        y = tirx.call_llvm_pure_intrin("float32", "llvm.arithmetic.fence", y) + residual
    if relu:
        y = tirx.max(y, tirx.const(0.0, "float32"))
    return y


def integer_epilogue_np(acc: np.ndarray, scale: np.ndarray, offset: np.ndarray, relu: bool,
                        residual: np.ndarray | None = None) -> np.ndarray:
    """numpy twin of :func:`integer_epilogue_te`; acc is (N, O, H, W) integer, residual float32 of
    the same shape or None."""
    accf = acc.astype(np.float32)
    s = scale.astype(np.float32).reshape(1, -1, 1, 1)
    b = offset.astype(np.float32).reshape(1, -1, 1, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.where(s != 0, (accf + b) * s, b).astype(np.float32)
    if residual is not None:
        y = (y + np.asarray(residual, np.float32)).astype(np.float32)
    if relu:
        y = np.maximum(y, np.float32(0))
    return y


def epilogue_params(act_scale: float, weight_scale: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) float32 vectors for the integer epilogue (docs/numerics.md)."""
    weight_scale = np.asarray(weight_scale, dtype=np.float32)
    out_ch = weight_scale.shape[0]
    bias = np.zeros(out_ch, np.float32) if bias is None else np.asarray(bias, np.float32)
    scale = (np.float32(act_scale) * weight_scale).astype(np.float32)
    offset = np.empty(out_ch, np.float32)
    nz = scale != 0
    offset[nz] = (bias[nz] / scale[nz]).astype(np.float32)
    offset[~nz] = bias[~nz]
    scale[~nz] = 0.0
    return scale, offset


def merge_knobs(defaults: dict, knobs, op: str) -> dict:
    """``defaults`` updated with ``knobs``; an unknown knob name raises ``KeyError``."""
    merged = dict(defaults)
    if knobs:
        unknown = set(knobs) - set(defaults)
        if unknown:
            raise KeyError(f"unknown {op} knobs: {sorted(unknown)}")
        merged.update(knobs)
    return merged


def divisor_at_most(extent: int, want: int) -> int:
    """Largest divisor of ``extent`` that is at most ``want`` (at least 1)."""
    return max(d for d in range(1, max(1, min(extent, want)) + 1) if extent % d == 0)


def grouped_conv2d_f64(x: np.ndarray, w: np.ndarray, *, strides=(1, 1), padding=0, dilation=(1, 1),
                      groups: int = 1) -> np.ndarray:
    """float64 ``(N, O, Ho, Wo)`` grouped convolution of NCHW ``x`` with OIHW ``w`` (zero padding,
    ``padding = (top, left, bottom, right)``), all arithmetic in float64."""
    n, c, h, wd = x.shape
    o_n, cg, kh, kw = w.shape
    if c != cg * groups or o_n % groups:
        raise ValueError(f"inconsistent conv shapes: x {x.shape}, w {w.shape}, groups {groups}")
    sh, sw = (int(strides),) * 2 if isinstance(strides, int) else (int(v) for v in strides)
    dh, dw = (int(dilation),) * 2 if isinstance(dilation, int) else (int(v) for v in dilation)
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, top, bottom, dh)
    wo = conv_out_size(wd, kw, sw, left, right, dw)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = np.empty((n, c, kh, kw, ho, wo), np.float64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            cols[:, :, ky, kx] = xp[:, :, y0 : y0 + sh * (ho - 1) + 1 : sh, x0 : x0 + sw * (wo - 1) + 1 : sw]
    cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
    wmat = np.asarray(w, np.float64).reshape(groups, o_n // groups, cg * kh * kw)
    return np.matmul(wmat[None], cols).reshape(n, o_n, ho, wo)
