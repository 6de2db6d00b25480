"""TE compute of the exact float dense product: float32 in and out, float64 products and sums.

Contract:

- ``x[p, k]``: float32 ``(P, K)``, one row per position (a batch, or the tokens of a channels-last MLP);
- ``wp[j, k, t]``: float32 ``(Mp / T, K, T)``, the constant ``(K, M)`` matrix ``W`` packed by
  :func:`schedules.float_dense_exact.packing.pack_dense_weights` (``W[k, m] = wp[m // T, k, m % T]``;
  ``Mp >= M`` a multiple of ``T``, the columns past ``M`` zero and never read out);
- ``acc[p, m]`` (float64, ``m < Mp``) ``= sum_k float64(x[p, k]) * float64(W[k, m])``: every product is exact in
  float64 (24 + 24 bits), so a fused multiply-add changes nothing; only the summation order is free;
- ``out[p, m] = float32(acc[p, m] + float64(bias[m]))``: one rounding to float32.

This is the reference executor's ``matmul`` by a constant (its bias is added after it in float32).
Stages: ``acc``, ``out``.
"""
from __future__ import annotations

from tvm import te


def float_dense_exact(x: te.Tensor, wp: te.Tensor, bias: te.Tensor) -> te.Tensor:
    """float32 ``(P, M)`` of the contract above (``M`` from ``bias``)."""
    if x.dtype != "float32" or wp.dtype != "float32":
        raise ValueError(f"float_dense_exact wants float32 activations and weights, got {x.dtype} and {wp.dtype}")
    p, k = (int(v) for v in x.shape)
    mt, kw, tile = (int(v) for v in wp.shape)
    if kw != k:
        raise ValueError(f"float_dense_exact: x has {k} features, the packed weights {kw}")
    r = te.reduce_axis((0, k), name="k")
    acc = te.compute(
        (p, mt * tile),
        lambda pp, m: te.sum(x[pp, r].astype("float64") * wp[m // tile, r, m % tile].astype("float64"), axis=r),
        name="acc",
    )
    if int(bias.shape[0]) > mt * tile:
        raise ValueError(f"float_dense_exact: {int(bias.shape[0])} outputs but {mt * tile} packed weight columns")
    return te.compute((p, int(bias.shape[0])), lambda pp, m: (acc[pp, m] + bias[m].astype("float64")).astype("float32"),
                      name="out")
