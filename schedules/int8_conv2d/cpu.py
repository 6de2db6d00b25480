"""CPU schedules (x86 and ARM families) of the int8 conv2d PrimFunc.

Two algorithms (knob ``algorithm``): 1x1 convolutions without padding whose groups have at least
``pair_min_channels`` input channels use the channel-word kernel of
:mod:`schedules.int8_conv2d.channel_words` (x86: ``vpmaddwd`` on int16 pairs; families with a dot
instruction pass their ``word_layout``; kernel-ready weights, knobs ``pair_*``, see
:func:`word_plan`); everything else uses the tiled direct schedule of :mod:`schedules.tiled_conv`
(knobs ``tile_o, tile_p, acc_registers, vector_bits, min_tasks, unroll, parallel``).
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import merge_knobs
from schedules.int8_conv2d import channel_words
from schedules.tiled_conv import TILED_CONV_KNOBS, apply_oihw_conv, schedule_oihw_conv

DEFAULT_KNOBS = {
    # pointwise (1x1, no padding) channel-word kernel of schedules.int8_conv2d.channel_words
    "algorithm": "auto",  # "words", "direct" (the tiled schedule below) or "auto": words for 1x1 when Cg >= pair_min_channels
    "word_layout": "pairs",  # channel words of the family's dot instruction (channel_words.WORD_ISAS): vpmaddwd pairs; None: none
    # auto: input channels per group from which the pairs kernel wins (16 loses, 24 wins: docs/measurements.md)
    "pair_min_channels": 24,
    "pair_tile_p": 5,  # words: max pixel vectors per register tile (the one wasting fewest padded vectors)
    "pair_tile_o": 6,  # words: max output channels per register tile (a divisor of O / groups)
    "pair_acc_registers": 12,  # words: tile_o * tile_p <= this many accumulator vectors
    "pair_unroll": 2,  # words: unroll factor of the word loop (a divisor of ceil(Cg / K))
    # direct schedule (kxk, padded, or small Cg)
    **TILED_CONV_KNOBS,
    "tile_o": 32,
}


def word_plan(geo: dict, knobs=None):
    """``{"layout", "tile_o", "tile_p", "unroll"}`` when the channel-word kernel handles this conv
    geometry (``compute.conv_geometry``) with these knobs (the family's defaults already merged in),
    else None (direct schedule)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d")
    algo = knobs["algorithm"]
    if algo not in ("auto", "words", "direct"):
        raise ValueError(f"unknown int8_conv2d algorithm {algo!r}: expected 'auto', 'words' or 'direct'")
    if knobs["word_layout"] is None:  # the family has no channel-word instruction
        if algo == "words":
            raise ValueError("int8_conv2d algorithm 'words': this family has no channel-word instruction "
                             "(word_layout None); use 'direct' or 'auto'")
        return None
    if knobs["word_layout"] not in channel_words.WORD_ISAS:
        raise ValueError(f"unknown int8_conv2d word_layout {knobs['word_layout']!r}: "
                         f"expected one of {sorted(channel_words.WORD_ISAS)}")
    isa = channel_words.WORD_ISAS[knobs["word_layout"]]
    pointwise = geo["kh"] == 1 and geo["kw"] == 1 and tuple(geo["pad"]) == (0, 0, 0, 0)
    if algo == "direct" or not pointwise or (algo == "auto" and geo["cg"] < knobs["pair_min_channels"]):
        return None
    tile_p = channel_words.choose_tile_p(geo["ho"] * geo["wo"], knobs["pair_tile_p"], isa.lanes)
    want_o = max(1, min(knobs["pair_tile_o"], knobs["pair_acc_registers"] // tile_p))
    tile_o = channel_words.choose_tile_o(geo["og"], want_o)
    return {"layout": isa.layout, "tile_o": tile_o, "tile_p": tile_p, "unroll": knobs["pair_unroll"]}


WORD_TILE_P = range(1, 9)  # pixel vectors per register tile searched by pointwise_knob_space
WORD_TILE_O = range(1, 17)  # output channels per register tile searched (divisors of O / groups)
WORD_UNROLL = (1, 2, 4, 8)  # word-loop unroll factors searched


def pointwise_knob_space(geo: dict, knobs=None) -> list[dict]:
    """The tuning space of a pointwise (1x1, unpadded) int8 conv (``tvm_sepnet.tuning``'s knob search),
    as knob overrides, the default's own setting excluded:

    - ``{"algorithm": "words", "pair_tile_o", "pair_tile_p", "pair_unroll", "pair_acc_registers"}``:
      the channel-word kernel with every distinct register tile that fits the family's vector
      registers (``tile_o * tile_p`` accumulators + ``tile_p`` activation vectors + 1 broadcast weight)
      and every distinct word-loop unroll factor;
    - ``{"algorithm": "direct"}``: the tiled direct kernel (its loops are tuned by MetaSchedule).

    Empty when the geometry cannot use the channel-word kernel. The choice of algorithm and every
    word tile change the weight layout, which is why this is a list of knob settings and not a
    MetaSchedule trace."""
    merged = merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d")
    if merged["word_layout"] is None or word_plan(geo, {**merged, "algorithm": "words"}) is None:
        return []
    isa = channel_words.WORD_ISAS[merged["word_layout"]]
    rn = channel_words.word_count(geo["cg"], isa.channels)

    def ident(plan):
        return None if plan is None else (plan["tile_o"], plan["tile_p"], channel_words.unroll_factor(plan["unroll"], rn))

    seen = {ident(word_plan(geo, merged))}  # the default itself is not a point of the space
    out = [] if None in seen else [{"algorithm": "direct"}]
    for tp in WORD_TILE_P:
        for to in WORD_TILE_O:
            for ur in WORD_UNROLL:
                point = {"algorithm": "words", "pair_tile_o": to, "pair_tile_p": tp, "pair_unroll": ur,
                         "pair_acc_registers": to * tp}
                plan = word_plan(geo, {**merged, **point})
                if plan["tile_o"] * plan["tile_p"] + plan["tile_p"] + 1 > isa.registers:
                    continue
                if ident(plan) not in seen:
                    seen.add(ident(plan))
                    out.append(point)
    return out


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule of an unscheduled direct (tiled) ``int8_conv2d`` on ``sch`` (its trace is the
    hand default's record in a tuning database)."""
    apply_oihw_conv(sch, merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d"), "wq")


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule an ``int8_conv2d`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    return schedule_oihw_conv(func, merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d"), "wq")
