"""Search over a finite list of knob settings with an XGBoost cost model (AutoTVM's XGBTuner role).

For kernels whose knobs change more than a loop nest (the channel-word int8 kernel: its weight
layout follows its register tile) and for the accelerator's tiling (simulated cycles), the design
space is an explicit list of knob dicts, not a MetaSchedule trace. :func:`search` measures points of
such a list:

- ``xgb``: ``warmup`` uniformly random points (a quarter of the budget, at least 2), then rounds of
  ``trials_per_iter`` points: an XGBoost regressor is fitted to log(cost) of everything measured so
  far (including earlier runs' records) over the task's ``features`` and the unmeasured points it
  predicts fastest are measured next;
- ``random``: uniformly random unmeasured points, ``trials_per_iter`` at a time.

Costs are positive numbers (seconds, cycles); a failed measurement is ``None`` and counts as a trial
(its point is never retried). Records are JSON lines appended and fsynced one per trial
(:func:`tvm_sepnet.tuning.knobs.append_record`).
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np

from ..tuning.knobs import FAILED_COST, knob_id


def _predict_order(measured: dict, left: list[dict], features: Callable[[dict], list[float]], seed: int) -> np.ndarray:
    import xgboost as xgb

    keys = [k for k, v in measured.items() if np.isfinite(v)]
    x = np.array([features(json.loads(k)) for k in keys], np.float64)
    y = np.log(np.array([measured[k] for k in keys], np.float64))
    booster = xgb.train({"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror", "seed": seed, "nthread": 1},
                        xgb.DMatrix(x, label=y), num_boost_round=60)
    pred = booster.predict(xgb.DMatrix(np.array([features(c) for c in left], np.float64)))
    return np.argsort(pred, kind="stable")


def search(candidates: list[dict], measure: Callable[[list[dict]], list[float | None]],
           features: Callable[[dict], list[float]], measured: dict[str, float], budget: int, *,
           search: str = "xgb", trials_per_iter: int = 8, seed: int = 0) -> list[float]:
    """Measure up to ``budget`` unmeasured points of ``candidates`` (see the module docstring).

    ``measured`` maps :func:`knob_id` to the cost of points measured before (it is updated);
    ``measure`` takes a batch of knob dicts and returns their costs (``None``: failed) after
    recording them. Returns the best finite cost after each trial of this call."""
    if search not in ("xgb", "random"):
        raise ValueError(f"search must be 'xgb' or 'random', got {search!r}")
    rng = np.random.default_rng(seed)
    warm = max(2, budget // 4)
    curve: list[float] = []
    done = 0
    while done < budget:
        left = [c for c in candidates if knob_id(c) not in measured]
        if not left:
            break
        n = min(trials_per_iter, budget - done)
        finite = sum(1 for v in measured.values() if np.isfinite(v))
        if search == "random" or done < warm or finite < 3:
            n = min(n, warm - done) if search == "xgb" and done < warm else n
            order = rng.permutation(len(left))
        else:
            order = _predict_order(measured, left, features, seed)
        batch = [left[i] for i in order[:max(1, n)]]
        for knobs, cost in zip(batch, measure(batch)):
            measured[knob_id(knobs)] = FAILED_COST if cost is None else float(cost)
            best = min(measured.values())
            curve.append(best)
            done += 1
    return curve
