"""The model zoo: names, constructors and each model's default compile configuration."""
from __future__ import annotations

from tvm_sepnet.errors import SepnetError

from .binary_nets import birealnet18, quicknet_small
from .graph import Net
from .mobilenet import mobilenet_v1
from .sepnet import sepnet
from .squeezenet import squeezenet1_1
from .weights import load_npz

_BUILDERS = {
    "sepnet-r": sepnet,
    "sepnet-b": sepnet,
    "sepnet-bq": sepnet,
    "squeezenet1.1": squeezenet1_1,
    "mobilenet-0.5": mobilenet_v1,
    "quicknet": quicknet_small,
    "birealnet": birealnet18,
}

_FLOAT = {"kxk": "float", "pointwise": "float", "act_bits": None}
_CONFIGS = {
    "sepnet-r": _FLOAT,
    "sepnet-b": {"kxk": "binary", "pointwise": "float", "act_bits": None},
    "sepnet-bq": {"kxk": "binary", "pointwise": "int8", "act_bits": 4},
    "squeezenet1.1": _FLOAT,
    "mobilenet-0.5": _FLOAT,
    # fully binary networks: their sign layers are binary by construction, the other layers stay float
    "quicknet": _FLOAT,
    "birealnet": _FLOAT,
}


class UnknownModelError(SepnetError):
    """A model name that is not in the zoo (a ``ValueError``); the message lists the known names."""


def list_models() -> list[str]:
    """Names of the zoo models."""
    return list(_BUILDERS)


def _check(name: str) -> None:
    if name not in _BUILDERS:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(_BUILDERS)}")


def default_config(name: str) -> dict:
    """The default compile configuration of a zoo model: ``{"kxk": "float"|"binary",
    "pointwise": "float"|"int8", "act_bits": None (float activations) or int}``."""
    _check(name)
    return dict(_CONFIGS[name])


def get_model(name: str, *, seed: int = 0, weights: str | None = None, image_size: int = 224,
              num_classes: int = 1000, batch: int = 1) -> Net:
    """The float :class:`Net` of a zoo model, weights drawn from ``seed`` or loaded from the ``.npz`` at
    ``weights`` (see :func:`~tvm_sepnet.models.weights.load_npz`). The three SEP-Net variants are the
    same float network; they differ only in :func:`default_config`."""
    _check(name)
    net = _BUILDERS[name](image_size=image_size, num_classes=num_classes, batch=batch, seed=seed)
    net.name = name
    if weights is not None:
        load_npz(net, weights)
    return net
