"""Splitting a tuning run's trial budget across tasks (CPU kernels and accelerator layers alike)."""
from __future__ import annotations


def allocate_trials(weights: list[float], budget: int) -> list[int]:
    """Split ``budget`` trials in proportion to ``weights`` (largest remainders; heaviest first)."""
    total = sum(weights) or 1.0
    raw = [budget * w / total for w in weights]
    alloc = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: (alloc[i] - raw[i], -weights[i]))[: budget - sum(alloc)]:
        alloc[i] += 1
    return alloc


def cap_total(planned: list[int], budget: int) -> list[int]:
    """``planned`` trials with the last (lightest) tasks' cut so that the total is at most ``budget``."""
    out = []
    for n in planned:
        out.append(min(n, budget))
        budget -= out[-1]
    return out
