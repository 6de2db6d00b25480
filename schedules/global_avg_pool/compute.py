"""TE compute of the exact global average pool: float32 NCHW in, float32 ``(N, C, 1, 1)`` out.

Contract: ``out[n, c, 0, 0] = float32(float64(sum_{h, w} float64(x[n, c, h, w])) / float64(H * W))``:
the sum is in float64 (exact for any realistic activations: ``H*W`` float32 values within a 2^29
magnitude range), divided in float64, rounded once. numpy's ``x.astype(float64).mean((2, 3))`` gives
the same value, so the pooled logits are bit-exact with the reference executor (TVM's stock
float32 pooling differs from it in the last bit).
"""
from __future__ import annotations

from tvm import te, tirx


def global_avg_pool_exact(x: te.Tensor) -> te.Tensor:
    n, c, h, w = (int(v) for v in x.shape)
    i64 = lambda v: tirx.IntImm("int64", v)  # noqa: E731
    rh = te.reduce_axis((i64(0), i64(h)), name="rh")
    rw = te.reduce_axis((i64(0), i64(w)), name="rw")
    acc = te.compute([i64(n), i64(c)], lambda nn, cc: te.sum(x[nn, cc, rh, rw].astype("float64"), axis=[rh, rw]), name="acc")
    count = tirx.const(float(h * w), "float64")
    return te.compute([i64(n), i64(c), i64(1), i64(1)],
                      lambda nn, cc, a, b: (acc[nn, cc] / count).astype("float32"), name="out")
