"""Activation quantization (``quantize``) and quantize + bit packing (``quantize_bitpack``, channel
words; ``quantize_bitpack_im2col``, the im2col bit layout of ``bitserial_conv2d``).

Contract: docs/numerics.md and :mod:`schedules.quantize.compute`; numpy twin:
:mod:`schedules.quantize.reference`. PrimFuncs take ``(x, inv_scale, out)``, int64 shapes, no
``global_symbol`` (they are added to Relax modules through ``call_tir``).

The TIR builders live in ``kernel.py`` (imports TVM); ``reference.py`` and ``packing.py`` are numpy-only."""
