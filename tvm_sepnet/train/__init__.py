"""Training low-bit SEP-Nets on scikit-learn's digits and exporting them to QONNX (docs/training.md).

Optional: needs the ``train`` extra (torch, brevitas, qonnx, scikit-learn); ``import tvm_sepnet`` never
imports this package. Modules: :mod:`.data` (the digits split), :mod:`.models` (the mini SEP-Net, plain
torch and Brevitas twins), :mod:`.seed_procedure` (float -> sign(W)·alpha -> fine-tune, no STE),
:mod:`.qat` (Brevitas quantization-aware training), :mod:`.export` (QONNX files), :mod:`.cli`
(``python -m tvm_sepnet.train``).
"""
