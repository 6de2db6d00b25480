"""The tiled direct-conv schedule shared by the OIHW conv kernels (``int8_conv2d``'s direct kernel,
``decoded_weight_conv2d``, ``float_conv2d_exact``) on every CPU family (x86 and ARM: portable TIR, the
vector width is a knob).

The ``acc`` block is a register-tiled matmul per group, vectorized over output channels:

- the output plane is flattened to one position axis ``p = y * Wo + x`` (the accumulator buffer and
  the ``out`` block follow), so a position tile never has a ragged row tail;
- each parallel task owns ``tile_o`` output channels (the vector lanes, a divisor of ``O / groups``)
  x one chunk of positions (``tile_o`` is a divisor that fills whole vectors where one exists), and first copies its weight
  tile into a task-local buffer laid out
  ``(i, ky, kx, o)`` so that a vector of output channels is one contiguous load;
- inside a task, position tiles of ``tile_p`` positions (unrolled, a divisor of ``Ho * Wo``) keep
  ``tile_p`` accumulator vectors in registers while the reduction (i, ky, kx) runs: per tap one
  weight vector load and one broadcast activation per position;
- the elementwise ``out`` block is computed at the position tile (unrolled over positions,
  vectorized over channels) and the decomposed init is vectorized the same way;
- the ``pad`` stage (if any) runs first, parallel over rows.

Channels, not positions, are vectorized because layer widths are multiples of 8 while planes are
often 14x14 or 7x7: a vectorized position loop would need a predicated tail, which TVM scalarizes.
The exception is a conv with one output channel per group (depthwise), which has no vector of output
channels: :func:`schedule_depthwise` vectorizes its output rows by a divisor of the row length (no
tail). On MobileNet-v2's depthwise 3x3 layers (int8, 1 thread, Zen 4): 56x56 0.85 -> 0.27 ms, 28x28
0.64 -> 0.10 ms, 14x14 0.12 -> 0.06 ms; with stride 2 the conv reads a copy of the padded input stored
as two column phases (:func:`split_padded_row_phases`, so that a tap's inputs are one vector load):
112x112 -> 56x56 1.04 -> 0.34 ms (docs/measurements.md, "Depthwise convs"). Rows of up to 14 outputs
are vectorized across channels instead (:func:`schedule_depthwise_channels`).
"""
from __future__ import annotations

from tvm import DataType, s_tir, tirx

from schedules.common import divisor_at_most
from schedules.schedule_utils import annotate_unroll, block_names

# Knobs of the tiled direct-conv schedule (schedule_conv), shared by every OIHW conv kernel.
TILED_CONV_KNOBS = {
    "tile_o": 8,  # output channels per register tile = vector lanes (clamped to a divisor of O / groups)
    "tile_p": None,  # output positions per register tile, unrolled (None: from acc_registers)
    "acc_registers": 12,  # vector registers for the accumulator tile when tile_p is None
    "vector_bits": 256,  # register width (AVX2)
    "min_tasks": 8,  # split positions into chunks until there are at least this many parallel tasks
    "depthwise_channel_rows": 14,  # depthwise output rows up to this long are vectorized across channels
    "unroll": ("kx",),  # reduction loops to unroll, from ("ic", "ky", "kx")
    "parallel": True,
}


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
    vectors of ``lanes`` accumulators, else the largest divisor up to ``want`` (a ragged register tile
    costs several times more: docs/measurements.md, "Register tiles")."""
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
    reduction init is left to MetaSchedule's postprocessor (a fixed loop count for trace replay). The
    ``pad`` stage, if any, is scheduled here too (:func:`schedule_pad`, or as a depthwise layout needs it)."""
    lanes = knobs["vector_bits"] // DataType(sch.get(sch.get_sblock(acc)).writes[0].source.dtype).bits
    if o_per_group == 1 and not sample_positions:
        schedule_depthwise(sch, lanes=lanes, knobs=knobs, acc=acc, out=out)
        return
    schedule_pad(sch, knobs["parallel"])
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


def _row_stride(sch: s_tir.Schedule, block) -> int:
    """The column stride of the conv block ``block``: the factor of its output column variable in the
    column index of the input (``pad``) it reads (1 when not found)."""
    import re

    node = sch.get(block)
    x = node.iter_vars[3].var.name
    for r in node.reads:
        if r.source.name == "pad":
            m = re.fullmatch(rf"{x} \* T\.int64\((\d+)\)( \+ .*)?", str(r.region[-1].min))
            return int(m.group(1)) if m else 1
    return 1


def split_padded_row_phases(sch: s_tir.Schedule, block) -> None:
    """For a conv of column stride ``s > 1`` reading a ``pad`` stage: give the conv a copy of the padded
    input stored as ``s`` column phases, ``(n, c, y, x) -> (n, c, y, x % s, x // s)``, so that the inputs
    of ``s``-strided output columns at one tap are contiguous (a vector load, not ``s``-strided element
    loads). The ``pad`` stage keeps its plain layout (its row loop vectorizes); the copy iterates
    ``(y, x // s, x % s)`` with the phases unrolled: ``s``-strided loads (LLVM's interleaved groups) into
    ``s`` contiguous rows. Storing ``pad`` itself in phases made it scalar (index arithmetic per byte:
    0.1 ms of MobileNet-v3-small's 0.14 ms 72 x 56 x 56 stride-2 depthwise, docs/measurements.md). Left
    alone when the padded row length is not a multiple of ``s``."""
    if "pad" not in block_names(sch):
        return
    stride = _row_stride(sch, block)
    pad = sch.get_sblock("pad")
    width = int(sch.get(sch.get_loops(pad)[-1]).extent)
    if stride < 2 or width % stride:
        return
    phases = sch.cache_read(block, sch.get(pad).writes[0].source.name, "global")
    sch.transform_layout(phases, ("write", 0), lambda n, c, y, x: (n, c, y, x % stride, x // stride))
    sch.transform_block_layout(phases, lambda n, c, y, x: (n, c, y, x // stride, x % stride))
    loops = sch.get_loops(phases)
    sch.parallel(sch.fuse(*loops[:3]))
    sch.unroll(loops[-1])


def schedule_depthwise(sch: s_tir.Schedule, *, lanes: int, knobs: dict, acc: str = "acc", out: str = "out") -> None:
    """One output channel per group (a depthwise conv): no vector of a group's output channels exists.
    Short output rows (``Wo <= knobs["depthwise_channel_rows"]``) with a whole vector of channels get
    :func:`schedule_depthwise_channels` (vectors across channels); the others vectorize the output row:
    loops ``n, o, y, x, ic, ky, kx`` of ``acc``, parallel over (n, o, y), the row split into vectors of ``xv``
    positions (the largest divisor of ``Wo`` up to two vectors of accumulators), the taps (ky, kx) unrolled
    around the vector; ``out`` computed per vector."""
    block = sch.get_sblock(acc)
    n, o, y, x, ic, ky, kx = sch.get_loops(block)
    channels = lane_divisor(int(sch.get(o).extent), 8, lanes)
    if int(sch.get(x).extent) <= knobs["depthwise_channel_rows"] and channels % lanes == 0:
        schedule_depthwise_channels(sch, channels=channels, knobs=knobs, acc=acc, out=out)
        return
    schedule_pad(sch, knobs["parallel"])
    split_padded_row_phases(sch, block)
    n, o, y, x, ic, ky, kx = sch.get_loops(block)
    xv = divisor_at_most(int(sch.get(x).extent), 2 * lanes)
    xo, xi = sch.split(x, factors=[None, xv])
    sch.reorder(n, o, y, xo, ic, ky, kx, xi)
    _run_depthwise_taps(sch, block, out, par=sch.fuse(n, o, y), out_at=xo, ic=ic, unrolled=(ky, kx), vector=xi,
                        knobs=knobs)


def _run_depthwise_taps(sch: s_tir.Schedule, block, out: str, *, par, out_at, ic, unrolled, vector, knobs: dict,
                        unroll_init: bool = False) -> None:
    """The common tail of the depthwise schedules: ``par`` parallel, the ``unrolled`` loops unrolled, the
    ``vector`` loop vectorized, ``out`` computed at ``out_at`` (``par`` when None; vectorized along its last
    loop) and the reduction init decomposed at ``ic`` (its last loop vectorized, the one above it unrolled
    with ``unroll_init``)."""
    if knobs["parallel"]:
        sch.parallel(par)
    for loop in unrolled:
        sch.unroll(loop)
    sch.vectorize(vector)
    consumer = sch.get_sblock(out)
    sch.reverse_compute_at(consumer, par if out_at is None else out_at, preserve_unit_loops=True)
    sch.vectorize(sch.get_loops(consumer)[-1])
    init = sch.decompose_reduction(block, ic)
    if unroll_init:
        sch.unroll(sch.get_loops(init)[-2])
    sch.vectorize(sch.get_loops(init)[-1])


def schedule_depthwise_channels(sch: s_tir.Schedule, *, channels: int, knobs: dict, acc: str = "acc",
                                out: str = "out") -> None:
    """A depthwise conv vectorized across ``channels`` channels (a divisor of C, whole vectors): its input
    (the ``pad`` stage, or a copy of the input when there is none) is stored channel-blocked,
    ``(n, c, y, x) -> (n, c // channels, y, x, c % channels)``, so that a tap's inputs for ``channels``
    channels at one position are one vector load, with one weight vector per tap; the accumulators
    ``(n, c // channels, y, x, c % channels)`` of a register tile of up to 8 positions stay in registers
    while the taps run (unrolled); parallel over (n, channel block, output row); ``out`` computed per row,
    vectorized along it. Input rows and strides need no special case (a position's channels are
    contiguous whatever the stride). On rows of 7 and 14 outputs this beats the row vectors by 1.2-2.6x
    (MobileNet-v3-small's 576 x 7 x 7 5x5: 0.11 -> 0.04 ms), at 28 it ties, at 56 it loses (the input copy
    is a transposition); docs/measurements.md, "Depthwise convs"."""
    block = sch.get_sblock(acc)
    blocked = lambda n, c, y, x: (n, c // channels, y, x, c % channels)  # noqa: E731
    if "pad" in block_names(sch):
        source = sch.get_sblock("pad")
    else:
        source = sch.cache_read(block, sch.get(block).reads[0].source.name, "global")
    sch.transform_layout(source, ("write", 0), blocked)
    sch.transform_block_layout(source, blocked)
    loops = sch.get_loops(source)
    outer = sch.fuse(*loops[:3])
    if knobs["parallel"]:
        sch.parallel(outer)
    sch.vectorize(loops[-1])

    sch.transform_layout(block, ("write", 0), blocked)
    n, o, y, x, ic, ky, kx = sch.get_loops(block)
    ob, oi = sch.split(o, factors=[None, channels])
    xo, xi = sch.split(x, factors=[None, divisor_at_most(int(sch.get(x).extent), 8)])
    sch.reorder(n, ob, y, xo, ic, ky, kx, xi, oi)
    _run_depthwise_taps(sch, block, out, par=sch.fuse(n, ob, y), out_at=None, ic=ic, unrolled=(ky, kx, xi), vector=oi,
                        knobs=knobs, unroll_init=True)


def schedule_oihw_conv(func: tirx.PrimFunc, knobs: dict, weight: str) -> tirx.PrimFunc:
    """Tiled schedule of a grouped conv PrimFunc whose second parameter is an OIHW kernel named
    ``weight`` (blocks ``pad`` (optional), ``acc``, ``out``); ``knobs`` already merged."""
    sch = s_tir.Schedule(func)
    apply_oihw_conv(sch, knobs, weight)
    return sch.mod["main"]


def apply_oihw_conv(sch: s_tir.Schedule, knobs: dict, weight: str, sample_positions: bool = False) -> None:
    """The steps of :func:`schedule_oihw_conv` on ``sch`` (its ``main`` unscheduled)."""
    func = sch.mod["main"]
    c_total = int(func.params[0].ty.shape[1])
    o_total, cg = (int(v) for v in func.params[1].ty.shape[:2])
    schedule_conv(sch, weight=weight, o_per_group=o_total * cg // c_total, knobs=knobs, sample_positions=sample_positions)




def oihw_conv_space(sch: s_tir.Schedule, knobs: dict, weight: str) -> s_tir.Schedule:
    """Tuning space of a tiled OIHW conv (``knobs`` merged): the hand structure with the position split
    (parallel chunks x tiles x positions per register tile) sampled, plus the unroll decision. The
    vector of output channels stays the hand value (a whole register: the weight cache layout depends
    on it); the reduction init is decomposed by MetaSchedule's RewriteReductionBlock postprocessor."""
    apply_oihw_conv(sch, knobs, weight, sample_positions=True)
    annotate_unroll(sch)
    return sch
