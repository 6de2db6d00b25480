"""PNG figures of the commands (bench, profile, tune curves, eval, the accuracy table): matplotlib on its
file-only ``Agg`` backend (no display needed), the folder of the file created, the figure closed."""
from __future__ import annotations

import os


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the ``Agg`` backend: ``(fig, axes)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: str, dpi: int = 100) -> str:
    """Lay out ``fig``, write it to ``path`` (its folder created), close it; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["save_figure", "subplots"]
