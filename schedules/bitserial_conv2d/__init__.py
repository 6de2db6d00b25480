"""Grouped bitserial conv2d: A-bit unsigned im2col-packed activations x 1-bit packed weights.

Contract: docs/numerics.md and :mod:`schedules.bitserial_conv2d.compute`; numpy twin:
:mod:`schedules.bitserial_conv2d.reference`; weight packing: :mod:`.packing`. The PrimFunc takes
``(xcol, wk, scale, offset, out)`` (im2col bit layout, ``packing.prepare_weights``) with int64 shapes and no ``global_symbol``.

The TIR builders live in ``kernel.py`` (imports TVM); ``reference.py`` and ``packing.py`` are numpy-only."""
