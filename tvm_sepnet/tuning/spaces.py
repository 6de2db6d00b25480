"""MetaSchedule design spaces of our kernels: the knobs of the hand schedules, sampled.

Each space is a function ``space(sch)`` for ``ms.space_generator.ScheduleFn`` over the *unscheduled*
kernel PrimFunc (``family=None``). The loop structure is the hand schedule's (so every sampled point
is a valid, fast-shaped kernel); only the knobs are decisions in the trace, so MetaSchedule can
replay and mutate them:

- ``bitserial_conv2d`` (schedules/bitserial_conv2d/x86.py): ``tile_o`` and ``tile_x`` are
  ``sample_perfect_tile`` splits of the output-channel (within a group) and column loops (innermost
  factor at most 16 / 32), the unroll depth of the reduction is a ``sample_categorical`` of
  ``meta_schedule.unroll_explicit``; two structures (the ``o_inner`` knob) are two design spaces.
- ``int8_conv2d`` tiled direct kernel (schedules/int8_conv2d/x86.py ``schedule_conv``): the position
  split (parallel chunks x tiles x positions per register tile) is one ``sample_perfect_tile``; the
  vector of output channels stays the hand value (a whole register: the weight cache layout depends
  on it), plus the same unroll decision.

- ``float_conv2d_exact`` (the float first conv; schedules/float_conv2d_exact/x86.py): the same tiled
  conv schedule over float64 accumulators, so the same position split + unroll decisions.

- ``generic`` (the legalized float ops around our kernels: pooling, fused elementwise ops; the hand
  schedule is schedules/generic/x86.py): two structures (producers such as the pooling pad inlined, or
  kept as their own parallel vectorized loop nest); per block the data-parallel loops are fused and
  parallelized, the innermost one split by a ``sample_perfect_tile`` vector width and vectorized (moved
  inside the reduction loops of pooling / mean blocks), plus the unroll decision.

- ``quantize`` (activation quantization, and quantization + bit packing for the bitserial convs;
  schedules/quantize/x86.py): per stage, the innermost loop split by ``sample_perfect_tile`` (inner
  <= 16) and vectorized, the outer ones fused and parallelized as in the hand schedule, plus the unroll
  decision; structures: the quantize stage as its own parallel nest or computed at each bit-packing
  row (no full uint8 tensor), and the border-padding stage as its own nest or inlined into im2col.

The pointwise channel-word kernel (channel_words.py) is written directly in TIR with its weight layout
tied to its tiles: its algorithm and tiles are knob tasks (tvm_sepnet/tuning/tasks.py).
"""
from __future__ import annotations

from tvm import s_tir

UNROLL_STEPS = [0, 16, 64, 512]


def _annotate_unroll(sch: s_tir.Schedule) -> None:
    root = sch.get_sblock("root")
    step = sch.sample_categorical(UNROLL_STEPS, [0.25] * 4)
    sch.annotate(root, "meta_schedule.unroll_explicit", step)


def bitserial_conv2d_space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001 (knobs: same signature as the others)
    """Design spaces of an unscheduled ``bitserial_conv2d`` PrimFunc (blocks ``acc``, ``out``)."""
    spaces = []
    for o_inner in (False, True):
        s = sch.copy()
        _bitserial_structure(s, o_inner)
        spaces.append(s)
    return spaces


def _bitserial_structure(sch: s_tir.Schedule, o_inner: bool) -> None:
    func = sch.mod["main"]
    groups = int(func.params[0].ty.shape[1])  # xcol: (N, G, Ho, A, KR, Wo)
    o_total = int(func.params[1].ty.shape[0])
    acc = sch.get_sblock("acc")
    out = sch.get_sblock("out")
    n, o, y, x, a, kr = sch.get_loops(acc)
    og, oi = sch.split(o, factors=[groups, o_total // groups])  # tiles never straddle a group
    oo, oi = sch.split(oi, factors=sch.sample_perfect_tile(oi, n=2, max_innermost_factor=16))
    xo, xi = sch.split(x, factors=sch.sample_perfect_tile(x, n=2, max_innermost_factor=32))
    if o_inner:
        sch.reorder(n, y, xo, og, oo, a, kr, oi, xi)
        par = sch.fuse(n, y)
        tile = oo
    else:
        sch.reorder(n, og, oo, y, xo, a, kr, oi, xi)
        par = sch.fuse(n, og, oo, y)
        tile = xo
    sch.parallel(par)
    sch.unroll(oi)
    sch.vectorize(xi)
    sch.reverse_compute_at(out, tile, preserve_unit_loops=True)  # a fixed loop count for trace replay
    e_oi, e_xi = sch.get_loops(out)[-2:]
    sch.unroll(e_oi)
    sch.vectorize(e_xi)
    _annotate_unroll(sch)  # the reduction init is decomposed by the RewriteReductionBlock postproc


def _oihw_conv_space(sch: s_tir.Schedule, op: str, defaults: dict, knobs, weight: str) -> s_tir.Schedule:
    from schedules.common import merge_knobs
    from schedules.int8_conv2d import x86 as int8_x86

    int8_x86.apply_oihw_conv(sch, merge_knobs(defaults, knobs, op), weight, sample_positions=True)
    _annotate_unroll(sch)
    return sch


def float_conv2d_exact_space(sch: s_tir.Schedule, knobs=None) -> s_tir.Schedule:
    """Design space of an unscheduled ``float_conv2d_exact`` (the tiled schedule, positions sampled)."""
    from schedules.float_conv2d_exact import x86 as float_x86

    return _oihw_conv_space(sch, "float_conv2d_exact", float_x86.DEFAULT_KNOBS, knobs, "w")


def int8_conv2d_space(sch: s_tir.Schedule, knobs=None) -> s_tir.Schedule:
    """Design space of an unscheduled direct ``int8_conv2d`` (blocks ``pad``?, ``acc``, ``out``): the
    hand schedule's structure (with the family's default ``knobs``) with the position tiling sampled."""
    from schedules.int8_conv2d import x86 as int8_x86

    return _oihw_conv_space(sch, "int8_conv2d", int8_x86.DEFAULT_KNOBS, knobs, "wq")


def generic_space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001
    """Design spaces of a legalized generic PrimFunc (see the module docstring)."""
    from schedules.generic.x86 import DATA_PAR

    spaces = []
    n_blocks = len(sch.get_child_blocks(sch.get_sblock("root")))
    for inline in ((True, False) if n_blocks > 1 else (True,)):
        s = sch.copy()
        if inline:
            for b in s.get_child_blocks(s.get_sblock("root"))[:-1]:
                try:
                    s.compute_inline(b)
                except Exception:  # noqa: BLE001 - not inlinable: scheduled as its own nest
                    pass
        for b in s.get_child_blocks(s.get_sblock("root")):
            loops = s.get_loops(b)
            kinds = [iv.iter_type for iv in s.get(b).iter_vars]
            if not loops or len(kinds) != len(loops) or kinds[0] != DATA_PAR:
                continue
            n_par = next((i for i, kind in enumerate(kinds) if kind != DATA_PAR), len(kinds))
            par, red = loops[:n_par], loops[n_par:]
            wo, wi = s.split(par[-1], s.sample_perfect_tile(par[-1], n=2, max_innermost_factor=16))
            if red:
                s.reorder(wo, *red, wi)
            s.parallel(s.fuse(*par[:-1], wo) if len(par) > 1 else wo)
            s.vectorize(wi)
        _annotate_unroll(s)
        spaces.append(s)
    return spaces


def quantize_space(sch: s_tir.Schedule, knobs=None) -> list[s_tir.Schedule]:  # noqa: ARG001
    """Design spaces of an unscheduled ``quantize`` / ``quantize_bitpack`` / ``quantize_bitpack_im2col``
    PrimFunc (blocks ``quantize``, ``bitpack``?, ``pad``?, ``im2col``?): see the module docstring."""
    from schedules.quantize.x86 import block_names

    names = block_names(sch)
    variants = [(False, False)] + ([(True, False)] if "bitpack" in names else [])
    if "pad" in names:
        variants += [(at_row, True) for at_row, _ in variants]
    spaces = []
    for at_row, inline_pad in variants:
        s = sch.copy()
        _quantize_structure(s, names, at_row, inline_pad)
        spaces.append(s)
    return spaces


def _split_vectorize(sch: s_tir.Schedule, loop):
    """Split ``loop`` by a sampled perfect tile (inner <= 16) and vectorize the inner part; (outer, inner)."""
    outer, inner = sch.split(loop, factors=sch.sample_perfect_tile(loop, n=2, max_innermost_factor=16))
    sch.vectorize(inner)
    return outer, inner


def _quantize_structure(sch: s_tir.Schedule, names: set, at_row: bool, inline_pad: bool) -> None:
    q = sch.get_sblock("quantize")
    row = None
    if "bitpack" in names:  # (n, g, kc, a, h, w, j): one parallel task per packed row, bits OR-ed over j
        bp = sch.get_sblock("bitpack")
        n, g, kc, a, h, w, j = sch.get_loops(bp)
        wo, wi = _split_vectorize(sch, w)
        sch.reorder(h, a, wo, j, wi)
        row = sch.fuse(n, g, kc, h)
        sch.parallel(row)
        sch.unroll(j)
        init = sch.decompose_reduction(bp, j)
        sch.vectorize(sch.get_loops(init)[-1])
    if at_row:
        sch.compute_at(q, row, preserve_unit_loops=True)  # the row's channels quantized in cache
        _split_vectorize(sch, sch.get_loops(q)[-1])
    else:
        loops = sch.get_loops(q)
        outer, _ = _split_vectorize(sch, loops[-1])
        lead = loops[: max(1, min(2, len(loops) - 1))] if len(loops) > 1 else [outer]
        sch.parallel(sch.fuse(*lead) if len(lead) > 1 else lead[0])
    if "pad" in names:
        pad = sch.get_sblock("pad")
        if inline_pad:
            sch.compute_inline(pad)
        else:
            loops = sch.get_loops(pad)
            sch.parallel(sch.fuse(*loops[:-2]))
            _split_vectorize(sch, loops[-1])
    if "im2col" in names:  # (n, g, y, a, kr, x)
        col = sch.get_sblock("im2col")
        n, g, y, a, kr, x = sch.get_loops(col)
        _split_vectorize(sch, x)
        sch.parallel(sch.fuse(n, g, y))
        sch.unroll(kr)
    _annotate_unroll(sch)
