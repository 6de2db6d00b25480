"""Tuning space of ``float_conv2d_exact`` (the float first conv): the tiled conv schedule of
:mod:`schedules.tiled_conv` over float64 accumulators, position split and unroll sampled."""
from __future__ import annotations

from tvm import s_tir

from schedules.common import merge_knobs
from schedules.tiled_conv import oihw_conv_space

from . import cpu


def space(sch: s_tir.Schedule, knobs=None) -> s_tir.Schedule:
    """Design space of an unscheduled ``float_conv2d_exact`` (the family's default ``knobs``)."""
    return oihw_conv_space(sch, merge_knobs(cpu.DEFAULT_KNOBS, knobs, "float_conv2d_exact"), "w")


SPACES = {"float_conv2d_exact": (space, cpu.apply)}
