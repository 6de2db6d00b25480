"""The integer-dataflow tensor layouts: a padded, flattened pixel domain and channel words (numpy only).

Between layers of the integer pipeline, a producer writes each consumer's input in the consumer's
format instead of float32 NCHW (docs/layouts.md, "Integer dataflow"):

- **Domain.** The pixels of an ``H x W`` map live in a flattened padded plane ``Hp x Wp`` with a halo of
  ``pad`` pixels on every side (``Hp = H + 2 pad``, ``Wp = W + 2 pad``): pixel ``(y, x)`` is at
  ``q = (y + pad) * Wp + (x + pad)``. A row of ``length`` values holds, from index ``pad``, the ``Q =
  Hp * Wp`` values of the plane, then ``pad + slack`` more: ``index = pad + q``. A ``(2p+1) x (2p+1)``
  stride-1 convolution with ``p <= pad`` is then a sum of constant offsets
  ``(ky - p) * Wp + (kx - p)`` of the output position, with no bounds test: the halo holds zeros (the
  zero padding), the guard and slack values are never read for a stored output.
- **Words** (``int32``): 4 consecutive channels of one pixel, channel ``4r`` in the lowest byte, as
  uint8 or int8 codes of the consumer's quantizer. ``words[n, r, i]`` (``r < C / 4``) holds channels
  ``4r .. 4r+3`` at row index ``i``. Halo pixels hold code 0 (the value 0).
- **Padded float32** (``f32p``): ``x[n, c, i]``, float32, the same rows (residual operands).

Halo positions must be 0 in every tensor of the domain; guard and slack values are unspecified.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORD_CHANNELS = 4  # channels per int32 word (bytes)
SLACK = 64  # values past the last row of a domain: room for a kernel's last vector tile (at most 64 positions)


@dataclass(frozen=True)
class Domain:
    """A padded flattened pixel domain (see the module docstring)."""

    n: int
    h: int
    w: int
    pad: int

    @property
    def hp(self) -> int:
        return self.h + 2 * self.pad

    @property
    def wp(self) -> int:
        return self.w + 2 * self.pad

    @property
    def q(self) -> int:
        """Positions of the padded plane."""
        return self.hp * self.wp

    @property
    def length(self) -> int:
        """Values per row: front guard, the plane, back guard and slack."""
        return self.pad + self.q + self.pad + SLACK

    def index(self, y, x):
        """Row index of pixel ``(y, x)``."""
        return self.pad + (y + self.pad) * self.wp + (x + self.pad)

    def interior(self) -> np.ndarray:
        """Row indices of the ``H x W`` pixels, row-major."""
        ys, xs = np.meshgrid(np.arange(self.h), np.arange(self.w), indexing="ij")
        return self.index(ys, xs).reshape(-1)


def to_padded(x: np.ndarray, domain: Domain) -> np.ndarray:
    """float32 NCHW -> ``f32p`` rows ``(N, C, length)`` (halo, guards and slack 0)."""
    n, c, h, w = x.shape
    if (n, h, w) != (domain.n, domain.h, domain.w):
        raise ValueError(f"tensor {x.shape} does not fit domain {domain}")
    out = np.zeros((n, c, domain.length), x.dtype)
    out[:, :, domain.interior()] = x.reshape(n, c, h * w)
    return out


def from_padded(rows: np.ndarray, domain: Domain) -> np.ndarray:
    """``f32p`` rows -> NCHW (the interior pixels)."""
    n, c, _ = rows.shape
    return rows[:, :, domain.interior()].reshape(n, c, domain.h, domain.w)


def to_words(codes: np.ndarray, domain: Domain) -> np.ndarray:
    """uint8 / int8 NCHW codes (C a multiple of 4) -> ``words`` int32 ``(N, C / 4, length)``."""
    n, c, h, w = codes.shape
    if c % WORD_CHANNELS or codes.dtype not in (np.uint8, np.int8):
        raise ValueError(f"words want uint8/int8 codes with channels a multiple of {WORD_CHANNELS}, "
                         f"got {codes.dtype} {codes.shape}")
    bytes_ = to_padded(codes.view(np.uint8), domain)  # (N, C, L) uint8
    quads = bytes_.reshape(n, c // WORD_CHANNELS, WORD_CHANNELS, domain.length).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(quads).view("<i4").reshape(n, c // WORD_CHANNELS, domain.length)


def from_words(words: np.ndarray, domain: Domain, dtype: str = "uint8") -> np.ndarray:
    """``words`` -> NCHW codes of ``dtype`` (the interior pixels)."""
    n, r, length = words.shape
    quads = np.ascontiguousarray(words).view(np.uint8).reshape(n, r, length, WORD_CHANNELS).transpose(0, 1, 3, 2)
    return from_padded(quads.reshape(n, r * WORD_CHANNELS, length), domain).view(dtype)
