"""``tvm_sepnet.tune``: MetaSchedule + XGBoost over our kernels' knob spaces, resumable.

Steps of a run (``tune(model, target, trials, work_dir)``):

1. run the model through the pass pipeline as ``tvm_sepnet.build`` does
   (:func:`relay_passes.pipeline.run_pipeline`) and collect the tunable kernels from its report
   (:mod:`tvm_sepnet.tuning.tasks`; identical layer shapes are one task);
2. measure each task's hand schedule once (stored in ``hand.json`` and committed to the database as
   a record, so the search starts from it and a tuned build is never slower than the hand one as
   measured);
3. split the trial budget (``trials``: the total for the directory) across tasks by their share of
   end-to-end kernel time (calls x hand time); trials already in the database count, so running the
   same command again after an interruption does only the missing trials, and a larger ``trials``
   tunes further;
4. per task, ``ms.tune_tir`` with the task's design space (``schedules/<op>/space.py``), the XGBoost cost model
   (``num_warmup_samples`` sized to the budget) or random search, the shared JSON database, and a
   progress line per measured batch (trials done, best per task, ETA); on a terminal a tqdm bar instead
   (``tvm_sepnet.progress``).

Measurement is local (``LocalRunner``) or through a TVM RPC tracker (``tracker="host:port"``,
``key``): builds run here, each trial runs on a server the tracker hands out (several servers under
one key measure in parallel). A failing trial (server gone, timeout) is recorded as an error by
MetaSchedule and tuning goes on.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import time

import numpy as np

from relay_passes.pipeline import CompileConfig, run_pipeline
from schedules.families import TUNABLE_FAMILIES

from ..builder import build
from ..device.deploy import device_info
from ..errors import SepnetError
from ..frontend import LoadedModel, load_model
from ..system_tools import require as require_tools
from ..targets import get_target, why_not_runnable_here
from ..tuning import knobs as knob_records
from ..tuning.kinds import knob_spaces, spaces
from ..tuning.records import MIN_GAIN, best_record_secs, knob_records_by_task, rejected_in_model, schedule_id, tuned_point
from ..tuning.tasks import Task, generic_tasks, knob_tasks_of, tasks_of
from ..tuning.workdir import FAILED_SECS, KNOB_RECORDS, MEASUREMENT, MODEL_CHECK, WorkDir, failed, format_skipped, median_secs
from . import knob_search
from .accelerator import tune_accelerator
from .budget import allocate_trials, cap_total
from .measure import make_builder, make_runner, measure_interleaved, measure_schedules, sum_parts
from .model_check import check_in_model

CONFIRM_TOP, CONFIRM_ROUNDS = 2, 3  # knob tasks: best points re-measured against the default (confirm)

# Evolutionary search population: our spaces have a few dozen points per task, and MetaSchedule's
# default (512, 4 generations) spent ~30 s per batch evolving them on this 2-core machine.
POPULATION = 64


def load_for_tuning(model, config, zoo_options):
    """(loaded model, effective config) of what ``tune`` tunes."""
    lm = model if isinstance(model, LoadedModel) else load_model(model, **zoo_options)
    return lm, {**lm.config, **(config or {})}


def extract_tasks(model, target="x86", config=None, **zoo_options) -> tuple[list[Task], dict]:
    """(tasks, config) of a zoo name / ONNX path / LoadedModel for a target preset."""
    preset = get_target(target)
    _check_tunable(preset)
    lm, cfg = load_for_tuning(model, config, zoo_options)
    tasks = lower_tasks(lm, cfg, preset)
    if not tasks:
        raise SepnetError(f"model {lm.name!r} has no tunable kernels (kinds with a design space: "
                          f"{sorted(spaces()) + sorted(knob_spaces())})")
    return tasks, cfg


def _check_tunable(preset) -> None:
    if preset.family not in TUNABLE_FAMILIES:
        raise SepnetError(f"tuning target {preset.name!r}: no design spaces for family {preset.family!r}")


def lower_tasks(lm, cfg: dict, preset, knob_choices=None) -> list[Task]:
    """The knob tasks and MetaSchedule tasks of a loaded model under config ``cfg``, from the report of
    the pass pipeline run as a build runs it; ``knob_choices`` (an object with ``knobs_for`` like
    ``TuningRecords``) applies knob-search results first, so the MetaSchedule tasks are the kernels
    those choices lower to."""
    lowered, report = run_pipeline(lm.mod, preset, CompileConfig.of(layer_names=lm.layer_names or None, **cfg),
                                   tuning=knob_choices)
    found = report.kernels
    return knob_tasks_of(found.knob_tasks, preset.family) + \
        tasks_of({**found.tasks, **generic_tasks(lowered, preset)}, preset.family, preset.features)


class KnobChoices:
    """The best knob-search record per knob task (``TuningRecords.knobs_for`` without schedules), for
    lowering the model as the tuned build will: a choice the model check found slower in the model
    (``verdicts``, :mod:`.model_check`) is not taken, so a resumed run tunes the kernels those layers
    run instead."""

    def __init__(self, knob_done: dict[str, dict[str, float]], verdicts: dict | None = None):
        self.knob_done = knob_done
        self.verdicts = verdicts or {}

    def knobs_for(self, key: str, entry: dict):  # noqa: ARG002 - TuningRecords' signature
        knobs = tuned_point(self.knob_done.get(key, {}))[0]
        if knobs is not None and rejected_in_model(self.verdicts, key, knob_records.knob_id(knobs)):
            return None
        return knobs

    def lookup(self, entry: dict):  # noqa: ARG002 - schedules are not applied while extracting tasks
        return None


def _tune_accelerator(model, preset, trials, work_dir, *, config, zoo_options, **search) -> dict:
    """fpga-sim targets: tune the accelerator's tiling knobs against simulated cycles (:mod:`.accelerator`)."""
    lm, cfg = load_for_tuning(model, config, zoo_options)
    _, report = run_pipeline(lm.mod, preset, CompileConfig.of(layer_names=lm.layer_names or None, **cfg), until="offload")
    if not report.offload.programs:
        raise SepnetError(f"model {lm.name!r} has no layers that run on {preset.name}")
    return tune_accelerator(report.offload, report.spec, preset, trials, work_dir, **search)


def _emulated_device(tracker: str, key: str, timeout: float) -> bool:
    """Whether a device under ``key`` is a tvm-sepnet emulated board (asks one session)."""
    from tvm import rpc

    host, port = tracker.rsplit(":", 1)
    try:
        info = device_info(rpc.connect_tracker(host, int(port)).request(key, priority=1, session_timeout=int(timeout)))
    except Exception:  # noqa: BLE001 - a busy or odd device: no note
        return False
    return bool(info and info.get("emulated"))


@contextlib.contextmanager
def _skip_tensor_intrinsics():
    """MetaSchedule's TuneContext imports ``tvm.s_tir.tensor_intrin`` (every target's tensor
    intrinsics, parsed from TVMScript: ~33 s here) although our spaces tensorize nothing. While
    tuning, a placeholder module stands in for it if it is not loaded yet; it is removed afterwards,
    so a later real import in this process still gets the real intrinsics."""
    import types

    import tvm.s_tir

    name = "tvm.s_tir.tensor_intrin"
    if name in sys.modules:
        yield
        return
    sys.modules[name] = types.ModuleType(name, "placeholder installed by tvm_sepnet.tuning while tuning")
    try:
        yield
    finally:
        sys.modules.pop(name, None)
        if isinstance(getattr(tvm.s_tir, "tensor_intrin", None), types.ModuleType) and \
                getattr(tvm.s_tir.tensor_intrin, "__doc__", "").startswith("placeholder"):
            delattr(tvm.s_tir, "tensor_intrin")


def _postprocs():
    """The LLVM postprocessors our spaces need (MetaSchedule's "from-target" list also has
    RewriteTensorize, whose import of every tensor intrinsic costs ~35 s per process here)."""
    from tvm.s_tir import meta_schedule as ms

    return [ms.postproc.DisallowDynamicLoop(), ms.postproc.RewriteParallelVectorizeUnroll(),
            ms.postproc.RewriteReductionBlock()]


def _measure_points(tasks: list[Task], points: list[dict], target, builder, runner, path: str, target_name: str,
                    search: str, errors: list | None = None) -> list[float | None]:
    """Measure knob task kernels (``tasks[i]`` at knob point ``points[i]``) and append one record per
    trial to the knob records file ``path`` (seconds None: failed)."""
    parts = [t.build_point(p) for t, p in zip(tasks, points)]
    secs = sum_parts([len(mods) for mods in parts],
                      measure_schedules([m for mods in parts for m in mods], target, builder, runner, errors))
    for t, p, sec in zip(tasks, points, secs):
        knob_records.append_record(path, {"task": t.key, "kind": t.kind, "layers": t.layers, "knobs": p, "secs": sec,
                                         "search": search, "target": target_name, "time": time.time()})
    return secs


def _records_by_key(wd: WorkDir) -> dict[str, list[float]]:
    """Measured seconds of every record in measurement order, per workload key."""
    out: dict[str, list[float]] = {}
    for key, secs in wd.measurements():
        out.setdefault(key, []).append(secs)
    return out


class _Progress:
    def __init__(self, tasks, planned, stream):
        self.tasks, self.planned, self.stream = tasks, planned, stream
        self.done = 0
        self.total = sum(planned)
        self.start = time.time()
        self.best = {t.key: t.hand_secs for t in tasks}
        from ..progress import bar, enabled

        self.bar = bar(self.total, "tune", unit="trial", stream=stream)  # a terminal: a bar instead of the lines
        self.lines = not enabled(stream)

    def add(self, tasks, planned) -> None:
        """More tasks (the MetaSchedule tasks once the knob choices are made)."""
        self.tasks, self.planned = list(self.tasks) + list(tasks), list(self.planned) + list(planned)
        self.total = self.done + sum(planned)  # earlier tasks may have run fewer trials than planned
        self.best.update({t.key: t.hand_secs for t in tasks})
        self.bar.total = self.total
        self.bar.refresh()

    def update(self, task: Task, secs: list[float]) -> None:
        self.done += len(secs)
        good = [s for s in secs if not failed(s)]
        if good and (self.best[task.key] is None or min(good) < self.best[task.key]):
            self.best[task.key] = min(good)
        elapsed = time.time() - self.start
        eta = elapsed / max(self.done, 1) * max(self.total - self.done, 0)
        best = self.best[task.key]
        hand = task.hand_secs
        errors = len(secs) - len(good)
        line = (f"[tune] {self.done}/{self.total} trials | {task.name}: best "
                f"{best * 1e3:.4f} ms (hand {hand * 1e3:.4f} ms)" if best and hand
                else f"[tune] {self.done}/{self.total} trials | {task.name}")
        line += f"{' | ' + str(errors) + ' failed' if errors else ''} | elapsed {elapsed:.0f} s, ETA {eta:.0f} s"
        self.bar.update(len(secs))
        self.bar.set_postfix_str(line.split(" | ", 1)[1] if " | " in line else "")
        if self.lines:
            print(line, file=self.stream, flush=True)


def _progress_callback(progress: _Progress, task: Task):
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class ProgressCallback(ms.measure_callback.PyMeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):  # noqa: ARG002
            secs = []
            for b, r in zip(builder_results, runner_results):
                ok = b.error_msg is None and r.error_msg is None and r.run_secs
                secs.append(median_secs(r.run_secs) if ok else FAILED_SECS)
            progress.update(task, secs)

    return ProgressCallback()


def tune(model, target="x86", trials: int = 64, work_dir: str = "tuning", *, tracker: str | None = None,
         key: str | None = None, search: str = "xgb", trials_per_iter: int = 8, search_seed: int | None = 0,
         only: list[str] | None = None, config=None, stream=None, timeout: float = 60.0, model_check: bool = True,
         **zoo_options) -> dict:
    """Tune ``model``'s kernels for ``target`` with ``trials`` trials in all (see the module docstring).

    ``search``: ``xgb`` (XGBoost cost model) or ``random``; ``only``: tune just the tasks whose name
    contains one of these strings (the budget is split among them); ``model_check``: time the tuned
    choices inside the model against the hand build and drop those slower there (:mod:`.model_check`;
    local measurement of a target this host runs). Returns a summary dict (per task: hand and best
    latency, trials; the model check's end-to-end times) that is also the CLI's ``--json`` output.
    """
    stream = stream or sys.stderr
    if trials < 0:
        raise SepnetError(f"--trials must be >= 0, got {trials}")
    if search not in ("xgb", "random"):
        raise SepnetError(f"search must be 'xgb' or 'random', got {search!r}")
    preset = get_target(target)
    if preset.accelerator:
        if tracker:
            raise SepnetError(f"{preset.name}: accelerator tiling is tuned against the simulator's cycle model on "
                              "this host; --tracker/--key do not apply (drop them)")
        return _tune_accelerator(model, preset, trials, work_dir, config=config, zoo_options=zoo_options, search=search,
                                 trials_per_iter=trials_per_iter, seed=search_seed or 0, only=only, stream=stream)
    if preset.export_cc:
        require_tools(preset.export_cc, f"tuning for target {preset.name!r}")
    tvm_target = preset.tvm_target()
    runner = make_runner(tracker, key, timeout)  # first: an unreachable tracker fails fast
    if tracker and _emulated_device(tracker, key, timeout):
        print(f"[tune] note: the devices under key {key!r} are emulated (qemu): their timings are not a speed "
              "signal; use them to test the tuning path, tune on real boards", file=stream)
    _check_tunable(preset)
    lm, cfg = load_for_tuning(model, config, zoo_options)

    def select(tasks):
        return [t for t in tasks if any(s in t.name for s in only)] if only else tasks

    tasks = select(lower_tasks(lm, cfg, preset))
    if not tasks:
        raise SepnetError(f"no task matches {only}" if only else f"model {lm.name!r} has no tunable kernels")
    with WorkDir(work_dir) as wd:
        wd.check_target(preset, create=True, measurement=MEASUREMENT)
        if wd.dropped:
            print(f"[tune] {format_skipped(wd.skipped)} (an interrupted run or a damaged file; their text is kept in "
                  f"*.corrupt)", file=stream)
        ctx = _RunContext(wd, tvm_target, make_builder(timeout, preset.export_cc), runner, preset.name, search,
                          trials_per_iter, search_seed, tracker, stream)
        knob_tasks = [t for t in tasks if t.is_knob_task]
        ms_tasks = [t for t in tasks if not t.is_knob_task]
        ctx.measure_defaults(knob_tasks, ms_tasks)
        # the budget is split over all tasks by their share of kernel time; knob tasks run first (their
        # choices decide which kernels the MetaSchedule tasks are), then the model is lowered again
        # with those choices and the rest of the budget goes to its MetaSchedule tasks
        knob_tasks.sort(key=lambda t: -t.weight)
        first = allocate_trials([t.weight for t in knob_tasks + ms_tasks], trials)
        alloc = first[:len(knob_tasks)]
        knob_planned = [max(0, a - len(ctx.knob_done[t.key]) + 1) for t, a in zip(knob_tasks, alloc)]
        progress = _Progress(knob_tasks, knob_planned, stream)
        progress.total += max(0, sum(first) - sum(alloc) - len(ctx.wd.measurements()) + len(ctx.wd.hand()))  # ETA
        start = time.time()
        for t, n in zip(knob_tasks, knob_planned):
            ctx.tune_knob_task(t, n, progress)
        if knob_tasks:
            choices = KnobChoices(knob_records_by_task(ctx.knob_path, preset.name, confirmed=True),
                                  wd.load_json(MODEL_CHECK))
            ms_tasks = [t for t in select(lower_tasks(lm, cfg, preset, choices)) if not t.is_knob_task]
            ctx.measure_defaults([], ms_tasks)
        ms_tasks.sort(key=lambda t: -t.weight)
        done = {k: max(0, len(v) - 1) for k, v in _records_by_key(wd).items()}  # minus the hand record
        # what the knob tasks did not use (their spaces are small: a task can run out of points) goes on
        knob_used = sum(len(ctx.knob_done[t.key]) - 1 for t in knob_tasks)
        alloc = allocate_trials([t.weight for t in ms_tasks], max(0, trials - knob_used))
        # trials of workloads this lowering no longer has (e.g. a direct kernel whose layers a knob
        # choice moved to channel words) count too: the budget is the directory's
        left = max(0, trials - knob_used - sum(done.values()))
        progress.add(ms_tasks, cap_total([max(0, a - done.get(t.key, 0)) for t, a in zip(ms_tasks, alloc)], left))
        for t, n in zip(ms_tasks, progress.planned[len(knob_tasks):]):
            ctx.tune_ms_task(t, n, progress)
        progress.bar.close()
        rows = ctx.summary_rows(knob_tasks + ms_tasks)
        covered = {layer for t in knob_tasks for layer in t.layers}
        plain = [(t, r) for t, r in zip(ms_tasks, rows[len(knob_tasks):]) if not set(t.layers) <= covered]
        counted = list(zip(knob_tasks, rows)) + plain  # MetaSchedule tasks of knob-task layers are in their cost
        check = _model_check(lm, cfg, preset, wd, tracker, stream) if model_check else {"skipped": "not asked"}
        for r in rows:  # a choice the model check rejected: the build keeps the hand kernel
            if r["key"] in check.get("rejected", {}):
                r["used_ms"], r["rejected_in_model"] = r["hand_ms"], True
        hand_total = sum(t.calls * t.hand_secs for t, _ in counted)
        best_total = sum(t.calls * r["used_ms"] / 1e3 for t, r in counted)
        return {"work_dir": wd.path, "target": preset.name, "search": search, "trials_this_run": progress.done,
                "seconds": time.time() - start, "tasks": rows, "model_check": check,
                "tuned_kernel_ms": best_total * 1e3, "hand_kernel_ms": hand_total * 1e3, "config": cfg}


def _model_check(lm, cfg, preset, wd, tracker, stream) -> dict:
    """:func:`.model_check.check_in_model` where the model runs here (local measurement, a target
    this host executes), else {"skipped": why}."""
    if tracker:
        return {"skipped": "measured through an RPC tracker: the model runs on the devices"}
    why = why_not_runnable_here(preset)
    if why:
        return {"skipped": why}

    def build_model(tuned: bool):
        return build(lm.mod, preset.name, layer_names=lm.layer_names or None, tuning=wd.path if tuned else None, **cfg)

    return check_in_model(build_model, wd, stream)


class _RunContext:
    """One tuning run's directory, builder, runner and search settings, with the steps of ``tune``."""

    def __init__(self, wd, target, builder, runner, target_name, search, trials_per_iter, seed, tracker, stream):
        self.wd, self.target, self.builder, self.runner = wd, target, builder, runner
        self.target_name, self.search, self.trials_per_iter, self.seed = target_name, search, trials_per_iter, seed
        self.tracker, self.stream = tracker, stream
        self.knob_path = wd.file(KNOB_RECORDS)
        self.knob_done = knob_records_by_task(self.knob_path, target_name)
        self.last_search = {r["task"]: r.get("search") for r in knob_records.read_records(self.knob_path)
                            if r.get("target") == target_name}

    def measure_defaults(self, knob_tasks: list[Task], ms_tasks: list[Task]) -> None:
        """Measure what is not measured yet of the knob tasks' default settings and the MetaSchedule
        tasks' hand schedules (the latter committed to the database: the search starts from them);
        set every task's ``hand_secs`` and ``weight``."""
        from tvm.s_tir import meta_schedule as ms

        default = knob_records.knob_id({})
        missing = [t for t in knob_tasks if default not in self.knob_done.get(t.key, {})]
        if missing:
            print(f"[tune] measuring the default knobs of {len(missing)} knob task(s)", file=self.stream, flush=True)
            errors: list = []
            secs = _measure_points(missing, [{}] * len(missing), self.target, self.builder, self.runner,
                                   self.knob_path, self.target_name, "default", errors)
            for t, sec in zip(missing, secs):
                _require_measured(t, sec, errors, "default kernel")
                self.knob_done.setdefault(t.key, {})[default] = sec
        hand = self.wd.hand()
        missing = [t for t in ms_tasks if t.key not in hand]
        if missing:
            print(f"[tune] measuring the hand schedules of {len(missing)} task(s)", file=self.stream, flush=True)
            db = self.wd.database
            scheds = [t.hand_schedule() for t in missing]
            errors = []
            secs = measure_schedules([s.mod for s in scheds], self.target, self.builder, self.runner, errors)
            for t, sch, sec in zip(missing, scheds, secs):
                _require_measured(t, sec, errors, "hand schedule")
                hand[t.key] = sec
                workload = db.commit_workload(t.mod)
                db.commit_tuning_record(ms.database.TuningRecord(
                    sch.trace, workload, [sec], self.target, ms.arg_info.ArgInfo.from_prim_func(t.mod["main"])))
            self.wd.save_hand(hand)
        for t in knob_tasks + ms_tasks:
            t.hand_secs = self.knob_done[t.key][default] if t.is_knob_task else hand[t.key]
            t.weight = t.calls * t.hand_secs

    def _log(self, t: Task, n: int, t0: float, progress) -> None:
        self.wd.log_run({"task": t.name, "key": t.key, "trials": n, "search": self.search, "seconds": time.time() - t0,
                         "best_secs": progress.best[t.key], "hand_secs": t.hand_secs, "tracker": self.tracker,
                         "time": time.time()})

    def tune_knob_task(self, t: Task, n: int, progress) -> None:
        if n <= 0:
            self.confirm(t)  # an interrupted run may have stopped between the search and this
            return
        t0 = time.time()

        def measure(batch):
            secs = _measure_points([t] * len(batch), batch, self.target, self.builder, self.runner, self.knob_path,
                                   self.target_name, self.search)
            progress.update(t, [FAILED_SECS if v is None else v for v in secs])
            return secs

        ran = knob_search.search(t.knob_space(), measure, t.features, self.knob_done.setdefault(t.key, {}), n,
                                 search=self.search, trials_per_iter=self.trials_per_iter, seed=self.seed or 0)
        if ran:  # a space with no point left measures nothing: nothing new to confirm either
            self.last_search[t.key] = self.search
        self.confirm(t)
        self._log(t, n, t0, progress)

    def confirm(self, t: Task) -> None:
        """Re-measure the ``CONFIRM_TOP`` best points of a knob task against its default
        (:func:`measure_interleaved`, ``CONFIRM_ROUNDS`` rounds) and record each as a ``confirm``
        record: ``secs`` = the default's recorded seconds x the ratio of the medians. The build trusts
        only confirmed points (``records.knob_records_by_task(confirmed=True)``), so a point that won
        its search batch by the machine's drift does not make a layer slower. Runs when the task's last
        record is a search trial."""
        measured = self.knob_done.get(t.key, {})
        default = knob_records.knob_id({})
        if self.last_search.get(t.key) in (None, "default", "confirm") or default not in measured:
            return
        ranked = sorted((k for k in measured if k != default and measured[k] < measured[default]), key=measured.get)
        top = [json.loads(k) for k in ranked[:CONFIRM_TOP]]
        runs = measure_interleaved([t.build_point(p) for p in [{}] + top], self.target, self.builder, self.runner,
                                   CONFIRM_ROUNDS) if top else None
        for p, r in zip(top, (runs or [])[1:]):
            knob_records.append_record(self.knob_path, {
                "task": t.key, "kind": t.kind, "layers": t.layers, "knobs": p, "search": "confirm",
                "secs": float(np.median(r)) * t.hand_secs / float(np.median(runs[0])), "runs": r,
                "default_runs": runs[0], "target": self.target_name, "time": time.time()})
        self.last_search[t.key] = "confirm"

    def confirm_ms(self, t: Task) -> None:
        """The MetaSchedule counterpart of :meth:`confirm`: the record a build would use (MetaSchedule's
        best) re-measured against the hand schedule; the result, keyed by the schedule's structural
        hash, goes to ``confirmed.json``, whose time the build uses instead of the record's own
        (``records.best_record_secs``)."""
        confirmed = self.wd.confirmed()
        secs, best = best_record_secs(self.wd.database, t.mod, self.target, confirmed)
        if secs is None or secs >= t.hand_secs or confirmed.get(t.key, {}).get("schedule") == schedule_id(best.mod):
            return  # no record, not faster as measured, or this record is confirmed already
        runs = measure_interleaved([[t.hand_schedule().mod], [best.mod]], self.target, self.builder, self.runner,
                                   CONFIRM_ROUNDS)
        if runs is None:
            return
        confirmed[t.key] = {"schedule": schedule_id(best.mod), "task": t.name, "hand_secs": t.hand_secs,
                            "secs": float(np.median(runs[1])) * t.hand_secs / float(np.median(runs[0])),
                            "runs": runs[1], "hand_runs": runs[0]}
        self.wd.save_confirmed(confirmed)

    def tune_ms_task(self, t: Task, n: int, progress) -> None:
        from tvm.s_tir import meta_schedule as ms

        if n <= 0:
            self.confirm_ms(t)  # an interrupted run may have stopped between the search and this
            return
        t0 = time.time()
        # one batch of warm-up: the database already holds the hand schedule the population starts from
        cost_model = (ms.cost_model.XGBModel(num_warmup_samples=max(2, min(self.trials_per_iter, n // 3)))
                      if self.search == "xgb" else ms.cost_model.RandomModel())
        space = ms.space_generator.ScheduleFn(
            t.space(), sch_rules=[], postprocs=_postprocs(),
            mutator_probs={ms.mutator.MutateTileSize(): 0.8, ms.mutator.MutateUnroll(): 0.2})
        # MetaSchedule's INFO/DEBUG lines go to WORK_DIR/logs only (its console handler takes the level
        # of this logger, which each tune_tir call resets to DEBUG); the console gets our progress
        logging.getLogger("tvm.s_tir.meta_schedule").setLevel(logging.WARNING)
        with _skip_tensor_intrinsics():
            ms.tune_tir(t.mod, self.target, self.wd.path, max_trials_global=n,
                        num_trials_per_iter=min(self.trials_per_iter, n), builder=self.builder, runner=self.runner,
                        database=self.wd.database, cost_model=cost_model, space=space,
                        measure_callbacks=ms.measure_callback.MeasureCallback.create("default")
                        + [_progress_callback(progress, t)],
                        task_scheduler="round-robin", seed=self.seed,
                        strategy=ms.search_strategy.EvolutionarySearch(
                            population_size=POPULATION, init_min_unmeasured=min(POPULATION, 16), genetic_num_iters=2))
        self.confirm_ms(t)
        self._log(t, n, t0, progress)

    def summary_rows(self, tasks: list[Task]) -> list[dict]:
        """Per task: trials, failures, hand seconds, and the best seconds of what a build uses (a knob
        task's best confirmed point or its default; a MetaSchedule task's best record, confirmed time
        where it has one)."""
        records = _records_by_key(self.wd)
        records.update({k: [FAILED_SECS if v == knob_records.FAILED_COST else v for v in m.values()]
                        for k, m in self.knob_done.items()})
        confirmed = knob_records_by_task(self.knob_path, self.target_name, confirmed=True)
        ms_confirmed = self.wd.confirmed()
        rows = []
        for t in tasks:
            good = [s for s in records.get(t.key, []) if not failed(s)]
            best = min(good) if good else None
            if t.is_knob_task:
                point, _ = tuned_point(confirmed.get(t.key, {}))
                best = t.hand_secs if point is None else confirmed[t.key][knob_records.knob_id(point)]
            else:  # the record a build uses (MetaSchedule's best), with its confirmed time if it has one
                best, _ = best_record_secs(self.wd.database, t.mod, self.target, ms_confirmed)
            rows.append({"task": t.name, "key": t.key, "kind": t.kind, "layers": t.layers, "calls": t.calls,
                         "trials": max(0, len(records.get(t.key, [])) - 1),
                         "failed": sum(1 for s in records.get(t.key, []) if failed(s)),
                         "hand_ms": t.hand_secs * 1e3, "best_ms": best * 1e3 if best else None,
                         "used_ms": (best if best and best < t.hand_secs * (1 - MIN_GAIN) else t.hand_secs) * 1e3,
                         "speedup": t.hand_secs / best if best else None})
        return rows


def _require_measured(t: Task, sec, errors: list, what: str) -> None:
    if sec is None:
        raise SepnetError(f"the {what} of {t.name} failed to build or run on the measuring device: "
                          f"{str(errors[0])[-800:] if errors else 'unknown error'}")
