"""dot_conv2d: grouped stride-1 conv of 8-bit channel words (schedules.word_layout) x int8 weights, with
the host's dot-product instruction (VNNI ``vpdpbusd``, ``vpmaddubsw``, ``sdot``, or plain arithmetic),
and an epilogue that writes each consumer's format (integer dataflow, docs/layouts.md).

Contract: :mod:`.reference` (numpy twin) and docs/numerics.md; the TIR builder is :mod:`.kernel`
(imports TVM); :mod:`.packing` and :mod:`.reference` are numpy-only."""
