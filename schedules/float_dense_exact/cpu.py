"""CPU schedule (x86 and ARM families) of the exact float dense PrimFunc.

A parallel task per packed weight tile (``T`` output columns, whole float64 vectors: ``tile_m`` or fewer
for a narrow layer); inside it, per row ``p``, the ``T`` float64 accumulators stay in registers while the
reduction over ``K`` streams the tile's weights (``T`` contiguous floats per input feature, converted to
float64) against one broadcast input: ``T / lanes`` independent FMA chains, each weight read once per
row. The epilogue (bias, one rounding) is a separate vectorized loop over the ``M`` real columns, so a
layer whose width is not a multiple of ``T`` (1000 classes) keeps whole tiles (its weights are padded
with zero columns at compile time). Measured on classifier shapes: docs/measurements.md ("Dense").
"""
from __future__ import annotations

from tvm import s_tir, tirx

from schedules.common import divisor_at_most, merge_knobs

DEFAULT_KNOBS = {
    "tile_m": 32,  # output columns per task (float64 accumulators in registers)
    "vector_bits": 256,  # register width (AVX2)
    "parallel": True,
}


def schedule(func: tirx.PrimFunc, knobs=None) -> tirx.PrimFunc:
    """Schedule a ``float_dense_exact`` PrimFunc (blocks ``acc``, ``out``)."""
    sch = s_tir.Schedule(func)
    apply(sch, knobs)
    return sch.mod["main"]


def apply(sch: s_tir.Schedule, knobs=None) -> None:
    """The hand schedule on ``sch`` (its ``main`` unscheduled)."""
    knobs = merge_knobs(DEFAULT_KNOBS, knobs, "float_dense_exact")
    acc = sch.get_sblock("acc")
    wp_buffer = sch.get(acc).reads[1].source
    tile = int(wp_buffer.shape[2])
    p, m, k = sch.get_loops(acc)
    mo, mi = sch.split(m, factors=[None, tile])
    sch.reorder(mo, p, k, mi)
    if knobs["parallel"]:
        sch.parallel(mo)
    sch.vectorize(mi)
    local = sch.cache_write(acc, 0, "local")
    sch.reverse_compute_at(local, p, preserve_unit_loops=True)
    sch.vectorize(sch.get_loops(local)[-1])
    init = sch.decompose_reduction(acc, k)
    sch.vectorize(sch.get_loops(init)[-1])
    op, om = sch.get_loops(sch.get_sblock("out"))
    if knobs["parallel"] and int(sch.get(op).extent) > 1:
        sch.parallel(op)
    width = divisor_at_most(int(sch.get(om).extent), 16)
    sch.vectorize(sch.split(om, factors=[None, width])[1])
