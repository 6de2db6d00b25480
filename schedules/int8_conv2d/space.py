"""Tuning spaces of ``int8_conv2d``.

- MetaSchedule space of the tiled direct kernel (:func:`schedules.tiled_conv.oihw_conv_space`: the
  position split and the unroll depth sampled).
- Knob space of pointwise (1x1, unpadded) convs, kind ``int8_conv2d_pointwise``: algorithm (direct or
  channel words) and channel-word register tile / unroll (:func:`.cpu.pointwise_knob_space`). These
  change the weight layout, so they are a list of knob settings (AutoTVM style), not a MetaSchedule
  trace; :func:`pointwise_features` are the XGBoost features of a point.
"""
from __future__ import annotations

from tvm import s_tir

from schedules.common import merge_knobs
from schedules.tiled_conv import oihw_conv_space

from . import channel_words, cpu


def space(sch: s_tir.Schedule, knobs=None) -> s_tir.Schedule:
    """Design space of an unscheduled direct ``int8_conv2d`` (blocks ``pad``?, ``acc``, ``out``): the
    hand schedule's structure (with the family's default ``knobs``) with the position tiling sampled."""
    return oihw_conv_space(sch, merge_knobs(cpu.DEFAULT_KNOBS, knobs, "int8_conv2d"), "wq")


def pointwise_features(geo: dict, knobs, point: dict) -> list[float]:
    """XGBoost features of a pointwise-conv knob point: whether it is the channel-word kernel, and then
    its effective register tile, unroll, padding waste, parallel tasks and words per pixel."""
    merged = {**(knobs or {}), **point}
    plan = cpu.word_plan(geo, merged)
    if plan is None:  # the direct kernel
        return [0.0] * 9
    isa = channel_words.WORD_ISAS[plan["layout"]]
    rn = channel_words.word_count(geo["cg"], isa.channels)
    vectors = -(-geo["ho"] * geo["wo"] // isa.lanes)
    tiles = -(-vectors // plan["tile_p"])
    to, tp = plan["tile_o"], plan["tile_p"]
    return [1.0, to, tp, to * tp, channel_words.unroll_factor(plan["unroll"], rn), tiles * tp / vectors,
            geo["n"] * geo["o"] // to * tiles, rn, vectors]


#: tuning kind -> (design space, hand schedule applied to a Schedule); the direct (tiled) kernel only
SPACES = {"int8_conv2d": (space, cpu.apply)}
#: knob kind -> (op whose family knobs apply, points(geometry, knobs), features(geometry, knobs, point))
KNOB_SPACES = {"int8_conv2d_pointwise": ("int8_conv2d", cpu.pointwise_knob_space, pointwise_features)}
