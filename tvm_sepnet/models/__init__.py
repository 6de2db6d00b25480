"""The model zoo: framework-neutral network descriptions (:class:`Net`) and their Relax / ONNX forms.

::

    from tvm_sepnet.models import get_model, to_relax, to_onnx
    net = get_model("sepnet-bq", seed=0)          # float SEP-Net; the variant sets default_config()
    mod = to_relax(net)                           # tvm.IRModule with "main"
    print(net.summary())
"""
from .graph import Net, NetBuilder, Node
from .to_onnx import save_onnx, to_onnx
from .to_relax import to_relax
from .weights import load_npz, save_npz
from .zoo import UnknownModelError, default_config, get_model, list_models

__all__ = ["get_model", "list_models", "default_config", "Net", "Node", "NetBuilder", "to_relax", "to_onnx",
           "save_onnx", "load_npz", "save_npz", "UnknownModelError"]
