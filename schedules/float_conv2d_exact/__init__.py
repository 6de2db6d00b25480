"""float_conv2d_exact: float32 conv2d with float64 products and sums and one final rounding.

Contract: docs/numerics.md and :mod:`schedules.float_conv2d_exact.compute`; numpy twin:
:mod:`schedules.float_conv2d_exact.reference`. The PrimFunc takes ``(x, w, bias, out)`` with int64
shapes and no ``global_symbol``.

The TIR builders live in ``kernel.py`` (imports TVM); ``reference.py`` and ``packing.py`` are numpy-only."""
