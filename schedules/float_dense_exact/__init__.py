"""float_dense_exact: a float32 matrix product by a constant matrix with float64 products and sums and one
final rounding (a ``Gemm`` / ``Linear`` classifier; the reference executor's ``matmul`` contract).

Contract: :mod:`schedules.float_dense_exact.compute`; numpy twin: :mod:`schedules.float_dense_exact.reference`;
weight packing (numpy): :mod:`schedules.float_dense_exact.packing`. The PrimFunc takes ``(x, wp, bias, out)``
with int64 shapes and no ``global_symbol``. The TIR builders live in ``kernel.py`` (imports TVM)."""
