"""The facts of docs/numerics.md that the ONNX twin needs, written again from the document on purpose.

Nothing here is imported from the compiler (``schedules``, ``relay_passes``, the builder): a check that
shares the code it checks is not independent. Facts used:

* activation quantizer ranges: unsigned A-bit ``[0, 2^A - 1]``; signed (``int``) A-bit symmetric
  ``[-(2^(A-1) - 1), 2^(A-1) - 1]``;
* stored binary weights ``wb[o, kc, ky, kx]`` (unsigned words of ``Pbits`` = 8/16/32/64 bits, the dtype
  of the array): bit ``j`` (LSB first) of word ``kc`` is 1 iff the sign of input channel
  ``kc*Pbits + j`` is +1, 0 means -1; bits past ``Cg`` (channels per group) are padding;
* dequantized weights: binary ``alpha[o] * B``, int8 ``wq * w_scale[o]``, float weights as stored;
* float32 unit roundoff ``u = 2^-24`` and Higham's ``gamma(n) = n*u / (1 - n*u)``: a float32 sum of ``n``
  products, in any order, with or without fused multiply-adds, is within ``gamma(n) * sum |terms|`` of
  the exact sum.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError

UNIT_ROUNDOFF = 2.0 ** -24


def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)`` for float32 (``u = 2^-24``)."""
    nu = n * UNIT_ROUNDOFF
    if nu >= 1:
        raise ValueError(f"gamma({n}) is unbounded in float32")
    return nu / (1 - nu)


def quantizer_range(kind: str, bits: int) -> tuple[int, int]:
    """(lo, hi) of an activation quantizer ``{"kind", "bits"}`` (docs/numerics.md)."""
    bits = int(bits)
    if kind == "uint" and 1 <= bits <= 8:
        return 0, 2 ** bits - 1
    if kind == "int" and 2 <= bits <= 8:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    raise UnsupportedOpError(f"activation quantizer {kind!r} with {bits} bits is not in docs/numerics.md")


def unpack_signs(wb: np.ndarray, channels_per_group: int) -> np.ndarray:
    """±1 float32 ``(O, Cg, KH, KW)`` weights from stored sign bits ``wb (O, KC, KH, KW)``."""
    wb = np.asarray(wb)
    if wb.dtype.kind != "u" or wb.ndim != 4:
        raise UnsupportedOpError(f"binary weights must be 4-D unsigned words, got {wb.dtype} {wb.shape}")
    pbits = wb.dtype.itemsize * 8
    o, kc, kh, kw = wb.shape
    if kc * pbits < channels_per_group:
        raise UnsupportedOpError(f"binary weights {wb.shape} of {wb.dtype} hold fewer than {channels_per_group} channels")
    words = wb.astype(np.uint64)
    bits = np.stack([(words >> np.uint64(j)) & np.uint64(1) for j in range(pbits)], axis=2)  # (O, KC, Pbits, KH, KW)
    bits = bits.reshape(o, kc * pbits, kh, kw)[:, :channels_per_group]
    return np.where(bits == 1, np.float32(1), np.float32(-1)).astype(np.float32)


def dequantized_weights(weight_format: str, w: np.ndarray, w_scale: np.ndarray, channels_per_group: int) -> np.ndarray:
    """float32 OIHW weights a float conv would use for a layer's stored weights."""
    if weight_format == "float":
        return np.asarray(w, np.float32)
    scale = np.asarray(w_scale, np.float32).reshape(-1, 1, 1, 1)
    if weight_format == "binary":
        return (unpack_signs(w, channels_per_group) * scale).astype(np.float32)
    if weight_format == "int8":
        return (np.asarray(w).astype(np.float32) * scale).astype(np.float32)
    raise UnsupportedOpError(f"weight format {weight_format!r} is not in docs/numerics.md")
