"""numpy twin of ``word_max_pool2d``: max pooling of NCHW uint8 codes (zero padding stands for ``-inf``:
0 is the smallest unsigned code), stride, kernel and padding as ``nn.max_pool2d``."""
from __future__ import annotations

import numpy as np

from schedules.common import conv_out_size, normalize_padding


def max_pool_codes(q: np.ndarray, pool, strides, padding=0, ceil_mode: bool = False) -> np.ndarray:
    n, c, h, w = q.shape
    kh, kw = pool
    sh, sw = strides
    top, left, bottom, right = normalize_padding(padding)
    ho, wo = pool_out_size(h, w, pool, strides, (top, left, bottom, right), ceil_mode)
    need_h, need_w = (ho - 1) * sh + kh, (wo - 1) * sw + kw
    qp = np.zeros((n, c, max(need_h, h + top + bottom), max(need_w, w + left + right)), q.dtype)
    qp[:, :, top:top + h, left:left + w] = q
    out = np.zeros((n, c, ho, wo), q.dtype)
    for ky in range(kh):
        for kx in range(kw):
            out = np.maximum(out, qp[:, :, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw])
    return out


def pool_out_size(h: int, w: int, pool, strides, padding, ceil_mode: bool) -> tuple[int, int]:
    """Output size of a max pool (``ceil_mode`` as ``nn.max_pool2d``: a last window may start in the
    padding-free part and run past the end)."""
    top, left, bottom, right = padding
    if not ceil_mode:
        return (conv_out_size(h, pool[0], strides[0], top, bottom), conv_out_size(w, pool[1], strides[1], left, right))

    def ceil_size(size, k, s, lo, hi):
        out = -(-(size + lo + hi - k) // s) + 1
        return out - 1 if (out - 1) * s >= size + lo else out

    return ceil_size(h, pool[0], strides[0], top, bottom), ceil_size(w, pool[1], strides[1], left, right)
