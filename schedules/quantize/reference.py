"""numpy twins of :mod:`schedules.quantize.compute` (docs/numerics.md), written with numpy bit ops.

Words are built and read through little-endian bytes (``np.packbits(..., bitorder="little")``): bit
``j`` of a word is byte ``j // 8``, bit ``j % 8``.
"""
from __future__ import annotations

import numpy as np

from schedules.common import PACK_DTYPES, conv_out_size, normalize_padding, num_words


def _scalar_f32(value) -> np.float32:
    return np.float32(np.asarray(value, dtype=np.float32).reshape(-1)[0])


def quantize(x: np.ndarray, inv_scale, lo: int, hi: int, out_dtype) -> np.ndarray:
    """``clip(rint(float32(x) * float32(inv_scale)), lo, hi)`` as ``out_dtype`` (half to even)."""
    v = np.rint(np.asarray(x).astype(np.float32) * _scalar_f32(inv_scale))
    return np.clip(v, np.float32(lo), np.float32(hi)).astype(out_dtype)


def bitpack(q: np.ndarray, bits: int, groups: int, pack_bits: int) -> np.ndarray:
    """Unsigned NCHW ``q`` (values < 2^bits) -> ``(N, G, KC, bits, H, W)`` words of ``pack_bits``."""
    n, c, h, w = q.shape
    cg = c // groups
    kc = num_words(cg, pack_bits)
    qg = np.zeros((n, groups, kc * pack_bits, h, w), np.uint8)
    qg[:, :, :cg] = q.reshape(n, groups, cg, h, w)
    planes = np.stack([(qg >> a) & 1 for a in range(bits)], axis=2)  # (N, G, A, KC*P, H, W)
    planes = np.moveaxis(planes, 3, -1)  # (N, G, A, H, W, KC*P)
    packed = np.packbits(planes, axis=-1, bitorder="little")  # (N, G, A, H, W, KC*P/8)
    words = np.ascontiguousarray(packed).view(f"<u{pack_bits // 8}")  # (N, G, A, H, W, KC)
    return np.ascontiguousarray(np.moveaxis(words, -1, 2)).astype(PACK_DTYPES[pack_bits])


def unpack_bits(xp: np.ndarray, channels_per_group: int) -> np.ndarray:
    """Inverse of :func:`bitpack`: ``(N, G, KC, A, H, W)`` words -> uint8 NCHW ``q``."""
    n, g, kc, bits, h, w = xp.shape
    nbytes = xp.dtype.itemsize
    words = np.ascontiguousarray(np.moveaxis(xp, 2, -1)).astype(f"<u{nbytes}")  # (N, G, A, H, W, KC)
    planes = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[..., :channels_per_group]
    weights = (1 << np.arange(bits, dtype=np.uint16)).reshape(1, 1, bits, 1, 1, 1)
    q = (planes.astype(np.uint16) * weights).sum(axis=2).astype(np.uint8)  # (N, G, H, W, Cg)
    return np.ascontiguousarray(np.moveaxis(q, -1, 2)).reshape(n, g * channels_per_group, h, w)


def quantize_bitpack(x: np.ndarray, inv_scale, bits: int, groups: int, pack_bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit quantization of NCHW ``x`` then :func:`bitpack`."""
    q = quantize(x, inv_scale, 0, (1 << bits) - 1, np.uint8)
    return bitpack(q, bits, groups, pack_bits)


def im2col_values(q: np.ndarray, groups: int, kernel, strides=1, padding=0, dilation=1) -> np.ndarray:
    """``(N, G, Ho, Wo, KH*KW*Cg)`` values of the im2col taps ``r = (ky*KW + kx)*Cg + c`` (0 in the padding)."""
    n, c, h, w = q.shape
    cg = c // groups
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    top, left, bottom, right = normalize_padding(padding)
    ho = conv_out_size(h, kh, sh, top, bottom, dh)
    wo = conv_out_size(w, kw, sw, left, right, dw)
    qp = np.pad(q, ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = np.empty((n, groups, ho, wo, kh, kw, cg), q.dtype)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            win = qp[:, :, y0 : y0 + sh * (ho - 1) + 1 : sh, x0 : x0 + sw * (wo - 1) + 1 : sw]  # (N, C, Ho, Wo)
            cols[:, :, :, :, ky, kx, :] = np.moveaxis(win.reshape(n, groups, cg, ho, wo), 2, -1)
    return cols.reshape(n, groups, ho, wo, kh * kw * cg)


def fake_quantize(x: np.ndarray, inv_scale, scale, lo: int, hi: int) -> np.ndarray:
    """``float32(quantize(x)) * scale``: the value of the codes (numpy twin of ``compute.fake_quantize``)."""
    return (quantize(x, inv_scale, lo, hi, np.float32).astype(np.float32) * np.float32(scale)).astype(np.float32)


def bitpack_im2col(q: np.ndarray, bits: int, groups: int, pack_bits: int, kernel, strides=1, padding=0, dilation=1) -> np.ndarray:
    """Unsigned NCHW ``q`` -> im2col words ``xcol[n, g, y, a, kr, x]`` (docs/numerics.md)."""
    cols = im2col_values(q, groups, kernel, strides, padding, dilation)  # (N, G, Ho, Wo, R)
    n, g, ho, wo, r = cols.shape
    kr = num_words(r, pack_bits)
    padded = np.zeros((n, g, ho, wo, kr * pack_bits), np.uint8)
    padded[..., :r] = cols
    planes = np.stack([(padded >> a) & 1 for a in range(bits)], axis=3)  # (N, G, Ho, A, Wo, KR*P)
    packed = np.packbits(planes, axis=-1, bitorder="little")
    words = np.ascontiguousarray(packed).view(f"<u{pack_bits // 8}")  # (N, G, Ho, A, Wo, KR)
    return np.ascontiguousarray(np.moveaxis(words, -1, 4)).astype(PACK_DTYPES[pack_bits])


def unpack_im2col(xcol: np.ndarray) -> np.ndarray:
    """Inverse of :func:`bitpack_im2col` up to the padding bits: ``(N, G, Ho, Wo, KR*P)`` uint8 values."""
    n, g, ho, bits, kr, wo = xcol.shape
    nbytes = xcol.dtype.itemsize
    words = np.ascontiguousarray(np.moveaxis(xcol, 5, 3)).astype(f"<u{nbytes}")  # (N, G, Ho, Wo, A, KR)
    planes = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")  # (N, G, Ho, Wo, A, KR*P)
    weights = (1 << np.arange(bits, dtype=np.uint16)).reshape(1, 1, 1, 1, bits, 1)
    return (planes.astype(np.uint16) * weights).sum(axis=4).astype(np.uint8)


def quantize_bitpack_im2col(x: np.ndarray, inv_scale, bits: int, groups: int, pack_bits: int, kernel, strides=1, padding=0,
                            dilation=1) -> np.ndarray:
    """Unsigned ``bits``-bit quantization of NCHW ``x`` then :func:`bitpack_im2col`."""
    q = quantize(x, inv_scale, 0, (1 << bits) - 1, np.uint8)
    return bitpack_im2col(q, bits, groups, pack_bits, kernel, strides, padding, dilation)
