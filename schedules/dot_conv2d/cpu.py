"""Knobs of the dot_conv2d kernel (hand-written TIR: no schedule primitives apply, the knobs shape it).

- ``dot_tile_o``: output channels per register tile (a divisor of O / groups; a multiple of 4 when the
  kernel writes words or reads a words residual); None: the planner's choice
  (``relay_passes.plan_dataflow``);
- ``dot_tile_p``: vectors of pixels per register tile (``tile_o * tile_p + tile_p + 1`` registers);
- ``dot_unroll``: unroll factor of the word loop.
"""
from __future__ import annotations

DEFAULT_KNOBS = {"dot_tile_o": None, "dot_tile_p": None, "dot_unroll": 1}


def schedule(func, knobs=None):  # noqa: ARG001 - the kernel is built scheduled (kernel.py)
    """The PrimFunc itself: its knobs are applied when it is built."""
    return func
