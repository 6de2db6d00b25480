"""decoded_weight_conv2d: float32 activations x binary or int8 weights decoded in registers.

Contract: docs/numerics.md and :mod:`schedules.decoded_weight_conv2d.compute`; numpy twin:
:mod:`schedules.decoded_weight_conv2d.reference`. The PrimFunc takes ``(x, w, scale, bias, out)``
with int64 shapes and no ``global_symbol``.

The TIR builders live in ``kernel.py`` (imports TVM); ``reference.py`` and ``packing.py`` are numpy-only."""
