"""Grouped int8 conv2d: uint8/int8 activations x int8 weights, int32 accumulation, integer epilogue.

Contract: docs/numerics.md and :mod:`schedules.int8_conv2d.compute`; numpy twin:
:mod:`schedules.int8_conv2d.reference`; weight quantization: :mod:`.packing`. The PrimFunc takes
``(xq, wq, scale, offset, out)`` with int64 shapes and no ``global_symbol``.

The TIR builders live in ``kernel.py`` (imports TVM); ``reference.py`` and ``packing.py`` are numpy-only."""
