"""Knob space of ``dot_conv2d`` (kind ``dot_conv2d``): the register tile and the word-loop unroll. They
change the weight layout (``tile_o``) and the kernel's loops, so the space is a list of knob settings
searched by ``tvm_sepnet.autotune.knob_search``; :func:`features` are a point's XGBoost features."""
from __future__ import annotations

from schedules.word_layout import SLACK, WORD_CHANNELS

from .kernel import DOT_ISAS

TILE_O = (4, 8, 12, 16)
TILE_P = (1, 2, 3, 4)
UNROLL = (1, 2, 4)


def points(geo: dict, knobs=None) -> list[dict]:  # noqa: ARG001 - the common signature
    """Knob overrides ``{"dot_tile_o", "dot_tile_p", "dot_unroll"}`` valid for the kernel ``geo``
    (``og``: output channels per group of the layer and its sibling, ``words``: a words output or
    residual, ``isa``, ``rn``: words per pixel and group), the default's own setting excluded."""
    isa = DOT_ISAS[geo["isa"]]
    out = []
    for to in TILE_O:
        if any(og % to for og in geo["og"]) or (geo["words"] and to % WORD_CHANNELS):
            continue
        for tp in TILE_P:
            if to * tp + tp + 1 > isa.registers or tp * isa.lanes > SLACK:
                continue
            for ur in UNROLL:
                if geo["rn"] % ur == 0 and (to, tp, ur) != geo["default"]:
                    out.append({"dot_tile_o": to, "dot_tile_p": tp, "dot_unroll": ur})
    return out


def features(geo: dict, knobs, point: dict) -> list[float]:  # noqa: ARG001
    isa = DOT_ISAS[geo["isa"]]
    to = point.get("dot_tile_o", geo["default"][0])
    tp = point.get("dot_tile_p", geo["default"][1])
    ur = point.get("dot_unroll", geo["default"][2])
    tile = tp * isa.lanes
    chunks = -(-geo["positions"] // tile)
    return [to, tp, to * tp, ur, chunks * tile / geo["positions"], geo["tasks_per_chunk"] // to * chunks, geo["rn"]]


KNOB_SPACES = {"dot_conv2d": ("dot_conv2d", points, features)}
