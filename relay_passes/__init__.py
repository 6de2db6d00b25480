"""Relax graph passes of tvm-sepnet (the user's "relay passes"; Relay itself is gone from TVM 0.27).

One pass per module, verb-first names, each usable in ``tvm.transform.Sequential``; the order they run
in is written once, as named phases, in :mod:`.pipeline`."""
from .binarize_pattern_convs import BinarizePatternConvs
from .choose_kxk_kernels import ChooseKxkKernels
from .expose_layer_outputs import ExposeLayerOutputs
from .fence_multiply_add import FenceMultiplyAdd
from .fold_batch_norm import FoldBatchNorm
from .fuse_relu import FuseReLU
from .fuse_residual_add import FuseResidualAdd
from .lower_dense_exact import LowerDenseExact
from .lower_global_avg_pool import LowerGlobalAvgPool
from .lower_to_kernels import LowerToKernels
from .offload_to_accelerator import OffloadToAccelerator
from .pipeline import PHASES, CompileConfig, run_pipeline
from .promote_to_float64 import PromoteToFloat64
from .quantize_activations import DEFAULT_RANGE, QuantizeActivations
from .quantize_pointwise_convs import QuantizePointwiseConvs
from .quantize_skip_connections import QuantizeSkipConnections
from .wrap_conv_layers import WrapConvLayers

__all__ = [
    "BinarizePatternConvs", "ChooseKxkKernels", "ExposeLayerOutputs", "FenceMultiplyAdd", "FoldBatchNorm", "FuseReLU",
    "FuseResidualAdd", "LowerDenseExact", "LowerGlobalAvgPool", "LowerToKernels", "OffloadToAccelerator", "PromoteToFloat64",
    "QuantizeActivations", "QuantizePointwiseConvs", "QuantizeSkipConnections", "WrapConvLayers", "PHASES", "CompileConfig",
    "run_pipeline", "DEFAULT_RANGE",
]
