"""Zoo networks (``tvm_sepnet.models``) -> float Relax modules."""
from __future__ import annotations

from ..models import default_config, get_model, to_relax
from .loaded import LoadedModel


def load_zoo(name: str, *, seed: int = 0, weights=None, image_size: int = 224, num_classes: int = 1000,
             batch: int = 1) -> LoadedModel:
    """A :class:`LoadedModel` of a zoo network."""
    net = get_model(name, seed=seed, weights=weights, image_size=image_size, num_classes=num_classes, batch=batch)
    return LoadedModel(name, to_relax(net), [], dict(default_config(name)), any_batch=True)
