"""Schedule families: which module schedules an op for a target preset's family, and with which knobs.

``schedules/<op>/<family>.py`` holds a family's own schedule. A family without its own module for an op
reuses another family's schedule with its own default knobs (``DERIVED``): the x86 schedules are
portable TIR (loop tiling, vectorize, unroll, parallel; LLVM picks the instructions), so ARM takes their
loop structure with NEON-sized knobs (128-bit registers): the vectorized popcount becomes NEON ``cnt`` +
pairwise widening adds, int8 products ``smull``/``smlal`` (``sdot`` where ``+dotprod`` lets LLVM use it).
Pointwise int8 convs use the channel-word kernel (``schedules/int8_conv2d/channel_words.py``) where the
family has a dot instruction for it: x86 ``vpmaddwd`` (int16 pairs), ``arm_dotprod`` ``sdot`` (int8
quads; aarch64 with ``+dotprod``). Plain ``arm`` has none that LLVM does not already reach from the
direct kernel (``smull``/``smlal``), so it uses the direct int8 kernel for every shape.
"""
from __future__ import annotations

import importlib

NEON_TILED = {"vector_bits": 128, "acc_registers": 12}

ARM_KNOBS = {
    "bitserial_conv2d": {"tile_x": 4},
    "int8_conv2d": {**NEON_TILED, "algorithm": "direct", "word_layout": None, "tile_o": 16},  # no word ISA
    "decoded_weight_conv2d": {**NEON_TILED, "tile_o": 8},
    "float_conv2d_exact": {**NEON_TILED, "tile_o": 4},
    "quantize": {"vector_width": 4, "pack_vector_width": 4, "im2col_vector_width": 2},
}
# sdot words: 4 pixels x 4 channels per 128-bit register; 16 int32x4 accumulators + 4 activation
# vectors + 4 broadcast weights = 24 of the 32 NEON registers
SDOT_KNOBS = {"algorithm": "auto", "word_layout": "quads", "pair_min_channels": 16, "pair_tile_p": 4,
              "pair_tile_o": 4, "pair_acc_registers": 16, "pair_unroll": 1}

#: family -> (base family, {op: default knob overrides})
DERIVED = {
    "arm": ("x86", ARM_KNOBS),
    "arm_dotprod": ("x86", {**ARM_KNOBS, "int8_conv2d": {**ARM_KNOBS["int8_conv2d"], **SDOT_KNOBS}}),
}


def schedule_module(op: str, family: str):
    """(module with ``schedule`` and ``DEFAULT_KNOBS``, default knob overrides) for an op and family."""
    try:
        return importlib.import_module(f"schedules.{op}.{family}"), {}
    except ModuleNotFoundError:
        pass
    if family in DERIVED:
        base, overrides = DERIVED[family]
        module, _ = schedule_module(op, base)
        return module, dict(overrides.get(op, {}))
    raise ValueError(f"no {op} schedule for family {family!r}")


def default_knobs(op: str, family: str) -> dict:
    """The family's default knobs of an op's schedule."""
    module, overrides = schedule_module(op, family)
    return {**module.DEFAULT_KNOBS, **overrides}


def schedule_for_family(op: str, family: str | None, func, knobs=None):
    """``func`` scheduled by the family's schedule of ``op`` (its defaults updated with ``knobs``);
    ``family=None`` returns ``func`` unscheduled."""
    if family is None:
        return func
    module, overrides = schedule_module(op, family)
    return module.schedule(func, {**overrides, **(knobs or {})})
