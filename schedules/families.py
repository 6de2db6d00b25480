"""Schedule families: which schedule an op gets for a target preset's family, and with which knobs.

Every CPU family (``x86``, ``arm``, ``arm_dotprod``) uses the op's ``schedules/<op>/cpu.py``: portable
TIR (loop tiling, vectorize, unroll, parallel; LLVM picks the instructions). A family differs only in
its default knobs (``FAMILY_KNOBS``): ARM takes the loop structure with NEON-sized knobs (128-bit
registers), where the vectorized popcount becomes NEON ``cnt`` + pairwise widening adds and int8
products ``smull``/``smlal``. Pointwise int8 convs use the channel-word kernel
(``schedules/int8_conv2d/channel_words.py``) where the family has a dot instruction for it: x86
``vpmaddwd`` (int16 pairs), ``arm_dotprod`` ``sdot`` (int8 quads; aarch64 with ``+dotprod``). Plain
``arm`` has none that LLVM does not already reach from the direct kernel (``smull``/``smlal``), so it
uses the direct int8 kernel for every shape.
"""
from __future__ import annotations

import importlib

NEON_TILED = {"vector_bits": 128, "acc_registers": 12}

ARM_KNOBS = {
    "bitserial_conv2d": {"tile_x": 4},
    "int8_conv2d": {**NEON_TILED, "algorithm": "direct", "word_layout": None, "tile_o": 16},  # no word ISA
    "decoded_weight_conv2d": {**NEON_TILED, "tile_o": 8},
    "float_conv2d_exact": {**NEON_TILED, "tile_o": 4},
    "float_dense_exact": {"vector_bits": 128, "tile_m": 16},
    "quantize": {"vector_width": 4, "pack_vector_width": 4, "im2col_vector_width": 2},
}
# sdot words: 4 pixels x 4 channels per 128-bit register; 16 int32x4 accumulators + 4 activation
# vectors + 4 broadcast weights = 24 of the 32 NEON registers
SDOT_KNOBS = {"algorithm": "auto", "word_layout": "quads", "pair_min_channels": 16, "pair_tile_p": 4,
              "pair_tile_o": 4, "pair_acc_registers": 16, "pair_unroll": 1}

#: family -> {op: default knob overrides of the op's cpu.py schedule}
FAMILY_KNOBS = {
    "x86": {},
    "arm": ARM_KNOBS,
    "arm_dotprod": {**ARM_KNOBS, "int8_conv2d": {**ARM_KNOBS["int8_conv2d"], **SDOT_KNOBS}},
}
#: op -> (CPU features, default knob overrides) for code that may use those features, over the family's
#: defaults: x86 with AVX-512 keeps the float conv's float64 accumulators in 512-bit registers (8 lanes, a
#: 16-channel tile, 24 of the 32 zmm registers): on the Bi-Real stem (7x7, 3 -> 64, 224) 6.5 -> 4.6 ms,
#: on a 256 -> 512 1x1 at 7x7 0.99 -> 0.44 ms (1 thread, AMD EPYC Zen 4, docs/measurements.md, issue 18).
#: Only for convs with at least ``min_o_per_group`` output channels per group (the vectorized axis):
#: a depthwise conv (1 channel per group) gets longer scalar position tiles from them and was slower
#: (QuickNet's 3x3 blur on 8 x 112 x 112: 0.09 -> 0.15-0.26 ms).
FEATURE_KNOBS = {
    "float_conv2d_exact": {"features": ("avx512f",), "min_o_per_group": 8,
                           "knobs": {"vector_bits": 512, "tile_o": 16, "acc_registers": 24}},
}


def feature_knobs(op: str, family: str, features, o_per_group: int) -> dict:
    """Default knob overrides of ``op`` for code that may use the CPU ``features`` (x86 family only), for a
    conv with ``o_per_group`` output channels per group."""
    rule = FEATURE_KNOBS.get(op)
    if rule is None or family != "x86" or not set(rule["features"]) <= set(features):
        return {}
    return dict(rule["knobs"]) if o_per_group >= rule["min_o_per_group"] else {}


def oihw_o_per_group(func) -> int:
    """Output channels per group of a conv PrimFunc whose first two parameters are NCHW ``x`` and OIHW ``w``."""
    c = int(func.params[0].ty.shape[1])
    o, cg = (int(v) for v in func.params[1].ty.shape[:2])
    return o * cg // c


#: families whose kernels have tuning spaces (every CPU family: the spaces sample the cpu.py schedules)
TUNABLE_FAMILIES = tuple(FAMILY_KNOBS)


def schedule_module(op: str, family: str):
    """(module with ``schedule`` and ``DEFAULT_KNOBS``, default knob overrides) for an op and family."""
    if family not in FAMILY_KNOBS:
        raise ValueError(f"no schedules for family {family!r}; known families: {sorted(FAMILY_KNOBS)}")
    try:
        module = importlib.import_module(f"schedules.{op}.cpu")
    except ModuleNotFoundError as err:
        raise ValueError(f"no {op} schedule (schedules/{op}/cpu.py)") from err
    return module, dict(FAMILY_KNOBS[family].get(op, {}))


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
