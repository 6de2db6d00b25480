"""word_max_pool2d: max pooling of unsigned 8-bit codes in words rows (schedules.word_layout), bytewise,
from one padded domain into another (the integer dataflow's pools between dot layers).

Max pooling commutes with a quantizer (``clip(rint(x * s), lo, hi)`` is monotone), so pooling the codes
a producer wrote for the consumer gives the codes of the pooled float values: bit-exact with pooling
in float32 and quantizing after. Contract: :mod:`.reference`; TIR: :mod:`.kernel`."""
