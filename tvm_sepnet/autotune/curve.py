"""Tuning curves from a work directory: best latency vs trials, per task and end to end.

Records are read in the order they were measured (the database file is append-only; knob-search
records, kept in their own file and tuned first in a run, come first). The first
record of every workload is its hand schedule (committed by ``tune`` before searching), so each
curve starts at the hand default. The end-to-end curve is the sum over tasks of ``calls x best so
far`` after each trial of the whole run (tasks not reached yet count at their hand time).
"""
from __future__ import annotations

from ..figures import save_figure, subplots
from ..tuning import knobs as knob_records
from ..tuning.workdir import FAILED_SECS, HAND, KNOB_RECORDS, WorkDir, failed


def read_curves(work_dir: str, tasks: list[dict] | None = None) -> dict:
    """``{"tasks": {key: {"name", "calls", "hand", "best": [best after trial i]}}, "end_to_end": [...]}``.

    ``tasks`` (from ``tune``'s summary rows or ``runs.jsonl``) gives names and call counts; by
    default they come from ``runs.jsonl`` (calls 1 where unknown)."""
    wd = WorkDir(work_dir, lock=False, create=False)
    names = {r["key"]: r["task"] for r in wd.runs()}
    calls = {}
    for t in tasks or []:
        if "key" in t:
            names[t["key"]] = t.get("task", names.get(t["key"]))
            calls[t["key"]] = t.get("calls", 1)
    hand = wd.hand()
    curves: dict[str, dict] = {}
    seen_first = set()
    current = dict(hand)
    e2e = []
    for key, secs in _knob_measurements(wd) + wd.measurements():
        if key not in seen_first:  # the hand record
            seen_first.add(key)
            curves.setdefault(key, {"name": names.get(key, key), "calls": calls.get(key, 1), "hand": hand.get(key, secs),
                                    "best": []})
            continue
        c = curves[key]
        prev = c["best"][-1] if c["best"] else c["hand"]
        c["best"].append(prev if failed(secs) else min(prev, secs))
        current[key] = c["best"][-1]
        e2e.append(sum(curves[k]["calls"] * current.get(k, curves[k]["hand"]) for k in curves))
    return {"tasks": curves, "end_to_end": e2e}


def _knob_measurements(wd: WorkDir) -> list[tuple[str, float]]:
    """(task key, seconds) of the knob-search records in measurement order (a task's first record is
    its default knobs; a failed trial counts as failed; confirmations are re-measurements, not trials)."""

    return [(r["task"], FAILED_SECS if r.get("secs") is None else r["secs"])
            for r in knob_records.read_records(wd.file(KNOB_RECORDS)) if r.get("search") != "confirm"]


def trials_to_reach(best: list[float], fraction: float = 0.05) -> int | None:
    """Trials after which ``best`` is within ``fraction`` of its final value (1-based), or None."""
    if not best:
        return None
    final = best[-1]
    for i, v in enumerate(best):
        if v <= final * (1 + fraction):
            return i + 1
    return None


def plot_curves(curve_sets: dict[str, dict], path: str, top: int = 4) -> str:
    """PNG of best latency vs trials: one panel per task (the ``top`` heaviest) and one end to end;
    ``curve_sets`` maps a label (e.g. "xgb", "random") to :func:`read_curves` output."""
    first = next(iter(curve_sets.values()))
    heavy = sorted(first["tasks"], key=lambda k: -first["tasks"][k]["calls"] * first["tasks"][k]["hand"])[:top]
    fig, axes = subplots(1, len(heavy) + 1, figsize=(4 * (len(heavy) + 1), 3.4), squeeze=False)
    for ax, key in zip(axes[0], heavy):
        for label, cs in curve_sets.items():
            t = cs["tasks"].get(key)
            if t and t["best"]:
                ax.plot(range(0, len(t["best"]) + 1), [t["hand"] * 1e3] + [b * 1e3 for b in t["best"]], label=label)
        ax.set_title(first["tasks"][key]["name"][:40], fontsize=8)
        ax.set_xlabel("trials")
        ax.set_ylabel("best latency (ms)")
    ax = axes[0][-1]
    for label, cs in curve_sets.items():
        if cs["end_to_end"]:
            ax.plot(range(1, len(cs["end_to_end"]) + 1), [v * 1e3 for v in cs["end_to_end"]], label=label)
    ax.set_title("tuned kernels, end to end (sum of calls x best)", fontsize=8)
    ax.set_xlabel("trials (all tasks)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


__all__ = ["read_curves", "plot_curves", "trials_to_reach", "HAND"]
