"""Schedule families: which module schedules an op for a target preset's family, and with which knobs.

``schedules/<op>/<family>.py`` holds a family's own schedule. A family without its own module for an op
reuses another family's schedule with its own default knobs (``DERIVED``): the x86 schedules are
portable TIR (loop tiling, vectorize, unroll, parallel; LLVM picks the instructions), so ARM takes their
loop structure with NEON-sized knobs (128-bit registers): the vectorized popcount becomes NEON ``cnt`` +
pairwise widening adds, int8 products ``smull``/``smlal`` (``sdot`` where ``+dotprod`` lets LLVM use it).
Only hand-written x86 instruction kernels (the ``vpmaddwd`` pairs kernel) are not shared: ARM uses the
direct int8 kernel for every shape.
"""
from __future__ import annotations

import importlib

NEON_TILED = {"vector_bits": 128, "acc_registers": 12}

#: family -> (base family, {op: default knob overrides})
DERIVED = {
    "arm": ("x86", {
        "bitserial_conv2d": {"tile_x": 4},
        "int8_conv2d": {**NEON_TILED, "algorithm": "direct", "tile_o": 16},
        "decoded_weight_conv2d": {**NEON_TILED, "tile_o": 8},
        "float_conv2d_exact": {**NEON_TILED, "tile_o": 4},
        "quantize": {"vector_width": 4, "pack_vector_width": 4, "im2col_vector_width": 2},
    }),
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
