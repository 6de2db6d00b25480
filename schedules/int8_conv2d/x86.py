"""x86 schedule (AVX2 and up) of the int8 conv2d PrimFunc, and the conv tiling shared by the other
x86 conv schedules (``decoded_weight_conv2d``, ``float_conv2d_exact``).

Two algorithms (knob ``algorithm``): 1x1 convolutions without padding whose groups have at least
``pair_min_channels`` input channels use the channel-word kernel of
:mod:`schedules.int8_conv2d.channel_words` (x86: ``vpmaddwd`` on int16 pairs; families with a dot
instruction pass their ``word_layout``; kernel-ready weights, knobs ``pair_*``, see
:func:`word_plan`); everything else uses the tiled direct schedule described below (knobs
``tile_o, tile_p, acc_registers, vector_bits, min_tasks, unroll, parallel``).

The ``acc`` block is a register-tiled matmul per group, vectorized over output channels:

- the output plane is flattened to one position axis ``p = y * Wo + x`` (the accumulator buffer and
  the ``out`` block follow), so a position tile never has a ragged row tail;
- each parallel task owns ``tile_o`` output channels (the vector lanes, a divisor of ``O / groups``)
  x one chunk of positions (``tile_o`` is a divisor that fills whole vectors where one exists), and first copies its weight tile into a task-local buffer laid out
  ``(i, ky, kx, o)`` so that a vector of output channels is one contiguous load;
- inside a task, position tiles of ``tile_p`` positions (unrolled, a divisor of ``Ho * Wo``) keep
  ``tile_p`` accumulator vectors in registers while the reduction (i, ky, kx) runs: per tap one
  weight vector load and one broadcast activation per position;
- the elementwise ``out`` block is computed at the position tile (unrolled over positions,
  vectorized over channels) and the decomposed init is vectorized the same way;
- the ``pad`` stage (if any) runs first, parallel over rows.

Channels, not positions, are vectorized because layer widths are multiples of 8 while planes are
often 14x14 or 7x7: a vectorized position loop would need a predicated tail, which TVM scalarizes.
"""
from __future__ import annotations

from tvm import DataType, s_tir, tirx

from schedules.common import divisor_at_most, merge_knobs

# Knobs of the tiled direct-conv schedule (schedule_conv), shared by every OIHW conv kernel.
TILED_CONV_KNOBS = {
    "tile_o": 8,  # output channels per register tile = vector lanes (clamped to a divisor of O / groups)
    "tile_p": None,  # output positions per register tile, unrolled (None: from acc_registers)
    "acc_registers": 12,  # vector registers for the accumulator tile when tile_p is None
    "vector_bits": 256,  # register width (AVX2)
    "min_tasks": 8,  # split positions into chunks until there are at least this many parallel tasks
    "unroll": ("kx",),  # reduction loops to unroll, from ("ic", "ky", "kx")
    "parallel": True,
}

DEFAULT_KNOBS = {
    # pointwise (1x1, no padding) channel-word kernel of schedules.int8_conv2d.channel_words
    "algorithm": "auto",  # "words", "direct" (the tiled schedule below) or "auto": words for 1x1 when Cg >= pair_min_channels
    "word_layout": "pairs",  # channel words of the family's dot instruction (channel_words.WORD_ISAS): vpmaddwd pairs; None: none
    "pair_min_channels": 24,  # auto: input channels per group from which the pairs kernel wins (measured: 16 loses, 24 wins)
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
    from schedules.int8_conv2d import channel_words

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
    from schedules.int8_conv2d import channel_words

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


def block_names(sch: s_tir.Schedule) -> set[str]:
    """Names of the blocks directly under the root block."""
    return {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}


def schedule_pad(sch: s_tir.Schedule, parallel: bool) -> None:
    """The ``pad`` block, if there is one: parallel over (n, c, y), the x loop left to LLVM."""
    if "pad" not in block_names(sch):
        return
    loops = sch.get_loops(sch.get_sblock("pad"))
    outer = sch.fuse(*loops[:-1])
    if parallel:
        sch.parallel(outer)


def flatten_plane(sch: s_tir.Schedule, acc: str, out: str, tile_o: int) -> None:
    """Make the output plane one axis ``p = y * Wo + x`` in block ``acc`` (loops n, o, y, x, ic, ky,
    kx) and in its elementwise consumer ``out`` (loops n, o, y, x); the accumulator buffer becomes
    ``(N, O / tile_o, P, tile_o)`` so that a tile of channels is contiguous."""
    wo = int(sch.get(sch.get_loops(sch.get_sblock(acc))[3]).extent)
    sch.transform_layout(acc, ("write", 0), lambda n, o, y, x: (n, o // tile_o, y * wo + x, o % tile_o))
    sch.transform_block_layout(acc, lambda n, o, y, x, ic, ky, kx: (n, o, y * wo + x, ic, ky, kx))
    sch.transform_block_layout(out, lambda n, o, y, x: (n, o, y * wo + x))


def _position_chunks(positions: int, tile_p: int, other_tasks: int, min_tasks: int) -> int:
    """Number of position chunks (a divisor of ``positions / tile_p``) giving enough tasks."""
    tiles = positions // tile_p
    for chunks in range(1, tiles + 1):
        if tiles % chunks == 0 and other_tasks * chunks >= min_tasks:
            return chunks
    return tiles


def lane_divisor(extent: int, want: int, lanes: int) -> int:
    """Channels per register tile: the largest divisor of ``extent`` up to ``want`` that fills whole
    vectors of ``lanes`` accumulators, else the largest divisor up to ``want`` (measured on the 1000-way
    classifier for a Cortex-A72, llvm-mca: 10 channels = 2.5 NEON registers 93.8 ms, 8 channels 19.0 ms)."""
    whole = [d for d in range(lanes, min(extent, want) + 1, lanes) if extent % d == 0]
    return max(whole) if whole else divisor_at_most(extent, want)


def _positions_per_tile(sch: s_tir.Schedule, block, tile_o: int, knobs: dict) -> int:
    """Positions whose ``tile_o``-channel accumulators fit in ``acc_registers`` vector registers."""
    acc_bits = DataType(sch.get(block).writes[0].source.dtype).bits
    regs_per_position = -(-tile_o * acc_bits // knobs["vector_bits"])
    return max(1, knobs["acc_registers"] // regs_per_position)


def schedule_conv(sch: s_tir.Schedule, *, weight: str, o_per_group: int, knobs: dict, acc: str = "acc", out: str = "out",
                  sample_positions: bool = False) -> None:
    """Tile the grouped-conv reduction block ``acc`` (loops n, o, y, x, ic, ky, kx; weight buffer
    named ``weight``, indexed ``[o, ...]``) and its elementwise consumer ``out`` as described in the
    module docstring. With ``sample_positions`` (a MetaSchedule design space, tvm_sepnet.tuning) the
    position split (chunks, tiles, positions per tile) is a ``sample_perfect_tile`` decision and the
    reduction init is left to MetaSchedule's postprocessor (a fixed loop count for trace replay)."""
    lanes = knobs["vector_bits"] // DataType(sch.get(sch.get_sblock(acc)).writes[0].source.dtype).bits
    tile_o = lane_divisor(o_per_group, knobs["tile_o"], lanes)
    flatten_plane(sch, acc, out, tile_o)
    block = sch.get_sblock(acc)
    n, o, p, ic, ky, kx = sch.get_loops(block)
    n_ext, o_ext, p_ext = (int(sch.get(loop).extent) for loop in (n, o, p))
    tile_p = divisor_at_most(p_ext, knobs["tile_p"] or _positions_per_tile(sch, block, tile_o, knobs))
    chunks = _position_chunks(p_ext, tile_p, n_ext * (o_ext // tile_o), knobs["min_tasks"])

    wcache = sch.cache_read(block, weight, "global")
    sch.transform_layout(wcache, ("write", 0), lambda oo, *rest: (oo // tile_o, *rest, oo % tile_o))

    ot, oi = sch.split(o, factors=[None, tile_o])
    if sample_positions:
        p_factors = sch.sample_perfect_tile(p, n=3, max_innermost_factor=16)
    else:
        p_factors = [chunks, None, tile_p]
    pc, pt, pi = sch.split(p, factors=p_factors)
    sch.reorder(n, ot, pc, pt, ic, ky, kx, pi, oi)
    par = sch.fuse(n, ot, pc)
    if knobs["parallel"]:
        sch.parallel(par)
    sch.compute_at(wcache, par)
    named = {"ic": ic, "ky": ky, "kx": kx}
    for name in knobs["unroll"]:
        sch.unroll(named[name])
    sch.unroll(pi)
    sch.vectorize(oi)

    consumer = sch.get_sblock(out)
    sch.reverse_compute_at(consumer, pt, preserve_unit_loops=True)
    e_o, e_p = sch.get_loops(consumer)[-2:]
    sch.reorder(e_p, e_o)
    sch.unroll(e_p)
    sch.vectorize(e_o)
    if sample_positions:
        return
    init = sch.decompose_reduction(block, ic)
    i_p, i_o = sch.get_loops(init)[-2:]
    sch.unroll(i_p)
    sch.vectorize(i_o)


def schedule_oihw_conv(func: tirx.PrimFunc, knobs: dict, weight: str) -> tirx.PrimFunc:
    """Tiled schedule of a grouped conv PrimFunc whose second parameter is an OIHW kernel named
    ``weight`` (blocks ``pad`` (optional), ``acc``, ``out``); ``knobs`` already merged."""
    sch = s_tir.Schedule(func)
    apply_oihw_conv(sch, knobs, weight)
    return sch.mod["main"]


def apply_oihw_conv(sch: s_tir.Schedule, knobs: dict, weight: str, sample_positions: bool = False) -> None:
    """The steps of :func:`schedule_oihw_conv` on ``sch`` (its ``main`` unscheduled)."""
    func = sch.mod["main"]
    schedule_pad(sch, knobs["parallel"])
    c_total = int(func.params[0].ty.shape[1])
    o_total, cg = (int(v) for v in func.params[1].ty.shape[:2])
    schedule_conv(sch, weight=weight, o_per_group=o_total * cg // c_total, knobs=knobs, sample_positions=sample_positions)


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule of an unscheduled direct (tiled) ``int8_conv2d`` on ``sch`` (its trace is the
    hand default's record in a tuning database)."""
    apply_oihw_conv(sch, merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d"), "wq")


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule an ``int8_conv2d`` PrimFunc (blocks ``pad`` (optional), ``acc``, ``out``)."""
    return schedule_oihw_conv(func, merge_knobs(DEFAULT_KNOBS, knobs, "int8_conv2d"), "wq")
