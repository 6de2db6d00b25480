"""``tvm_sepnet.tune``: MetaSchedule + XGBoost over our kernels' knob spaces, resumable.

Steps of a run (``tune(model, target, trials, work_dir)``):

1. compile the model's graph as ``tvm_sepnet.build`` does and collect the tunable kernels
   (:mod:`.tasks`; identical layer shapes are one task);
2. measure each task's hand schedule once (stored in ``hand.json`` and committed to the database as
   a record, so the search starts from it and a tuned build is never slower than the hand one as
   measured);
3. split the trial budget (``trials``: the total for the directory) across tasks by their share of
   end-to-end kernel time (calls x hand time); trials already in the database count, so running the
   same command again after an interruption does only the missing trials, and a larger ``trials``
   tunes further;
4. per task, ``ms.tune_tir`` with the task's design space (:mod:`.spaces`), the XGBoost cost model
   (``num_warmup_samples`` sized to the budget) or random search, the shared JSON database, and a
   progress line per measured batch (trials done, best per task, ETA).

Measurement is local (``LocalRunner``) or through a TVM RPC tracker (``tracker="host:port"``,
``key``): builds run here, each trial runs on a server the tracker hands out (several servers under
one key measure in parallel). A failing trial (server gone, timeout) is recorded as an error by
MetaSchedule and tuning goes on.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time

import numpy as np

from ..device.rpc_check import check_tracker_key
from ..errors import SepnetError
from .tasks import KINDS, Task, generic_tasks, tasks_of
from .workdir import FAILED_SECS, WorkDir, failed, median_secs

# Evolutionary search population: our spaces have a few dozen points per task, and MetaSchedule's
# default (512, 4 generations) spent ~30 s per batch evolving them on this 2-core machine.
POPULATION = 64


def _quantized_model(model, preset, config, zoo_options):
    """(loaded model, effective config, quantized sepnet-dialect module) of what ``tune`` tunes."""
    from ..builder import quantize_model
    from ..frontend import LoadedModel, load_model

    lm = model if isinstance(model, LoadedModel) else load_model(model, **zoo_options)
    cfg = {**lm.config, **(config or {})}
    return lm, cfg, quantize_model(lm.mod, layer_names=lm.layer_names or None, target=preset, **cfg)


def extract_tasks(model, target="x86", config=None, **zoo_options) -> tuple[list[Task], dict]:
    """(tasks, config) of a zoo name / ONNX path / LoadedModel for a target preset."""
    from relay_passes import LowerGlobalAvgPool, LowerToKernels
    from relay_passes.lower_to_kernels import TUNABLE_FAMILIES

    from ..targets import get_target

    preset = get_target(target)
    if preset.family not in TUNABLE_FAMILIES:
        raise SepnetError(f"tuning target {preset.name!r}: no design spaces for family {preset.family!r}")
    lm, cfg, qmod = _quantized_model(model, preset, config, zoo_options)
    lower = LowerToKernels(preset)
    lowered = LowerGlobalAvgPool()(lower(qmod))
    tasks = tasks_of({**lower.tasks, **generic_tasks(lowered, preset)}, preset.family)
    if not tasks:
        raise SepnetError(f"model {lm.name!r} has no tunable kernels (kinds with a design space: {sorted(KINDS)})")
    return tasks, cfg


def _tune_accelerator(model, preset, trials, work_dir, *, config, zoo_options, **search) -> dict:
    """fpga-sim targets: tune the accelerator's tiling knobs against simulated cycles (tvm_sepnet.fpga.tuning)."""
    import uuid

    from relay_passes import OffloadToAccelerator

    from ..fpga.spec import load_spec
    from ..fpga.tuning import tune_accelerator

    lm, _, qmod = _quantized_model(model, preset, config, zoo_options)
    offload = OffloadToAccelerator(load_spec(preset.accelerator), uuid.uuid4().hex[:12])
    offload(qmod)
    if not offload.programs:
        raise SepnetError(f"model {lm.name!r} has no layers that run on {preset.name}")
    return tune_accelerator(offload, preset, trials, work_dir, **search)


def make_runner(tracker: str | None = None, key: str | None = None, timeout: float = 60.0, workers: int | None = None):
    """LocalRunner, or an RPCRunner through ``tracker`` ("host:port") under ``key``."""
    from tvm.s_tir import meta_schedule as ms

    evaluator = ms.runner.EvaluatorConfig(number=3, repeat=3, min_repeat_ms=50, enable_cpu_cache_flush=False)
    if tracker is None:
        return ms.runner.LocalRunner(timeout_sec=timeout, evaluator_config=evaluator)
    host, port = check_tracker_key(tracker, key, min(timeout, 10.0))
    config = ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=key,
                                 session_priority=1, session_timeout_sec=int(timeout))
    return ms.runner.RPCRunner(rpc_config=config, evaluator_config=evaluator, max_workers=workers or 2,
                               f_alloc_argument=alloc_arguments)


def alloc_arguments(session, device, args_info, alloc_repeat):  # noqa: ARG001
    """RPCRunner argument allocation with host-made random data (the stock one calls
    ``tvm.contrib.random.random_fill_for_measure`` on the device, which a runtime-only board lacks)."""
    import tvm

    rng = np.random.default_rng(0)
    out = []
    for _ in range(alloc_repeat):
        args = []
        for info in args_info:
            if isinstance(info, (list, tuple)):  # serialized TensorInfo: ["TENSOR", dtype, shape]
                dtype, shape = str(info[1]), [int(v) for v in info[2]]
            else:
                dtype, shape = str(info.dtype), [int(v) for v in info.shape]
            if dtype.startswith(("int", "uint")):
                lim = np.iinfo(dtype)
                data = rng.integers(max(lim.min, -128), min(lim.max, 127) + 1, size=shape).astype(dtype)
            else:
                data = rng.standard_normal(shape).astype(dtype)
            t = tvm.runtime.empty(shape, dtype, device)
            t.copyfrom(data)
            args.append(t)
        out.append(args)
    return out


def _emulated_device(tracker: str, key: str, timeout: float) -> bool:
    """Whether a device under ``key`` is a tvm-sepnet emulated board (asks one session)."""
    from tvm import rpc

    from ..device.deploy import device_info

    host, port = tracker.rsplit(":", 1)
    try:
        info = device_info(rpc.connect_tracker(host, int(port)).request(key, priority=1, session_timeout=int(timeout)))
    except Exception:  # noqa: BLE001 - a busy or odd device: no note
        return False
    return bool(info and info.get("emulated"))


def build_kernel(mod, target, _params=None):
    """MetaSchedule builder function: MetaSchedule's default minus its ``import
    tvm.s_tir.tensor_intrin``, which registers every tensor intrinsic of every target and costs
    ~35 s in each fresh builder process here (our kernels tensorize nothing)."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


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


def export_kernel(rt_mod, cc: str | None = None) -> str:
    """MetaSchedule export function: a shared library (cross-linked with ``cc`` for another
    architecture), so a device without a compiler can load it (the default exports a .tar that the
    device must link itself)."""
    import tempfile

    from tvm.support import cc as tcc

    path = os.path.join(tempfile.mkdtemp(prefix="sepnet-ms-"), "kernel.so")
    rt_mod.export_library(path, fcompile=tcc.cross_compiler(cc) if cc else None)
    return path


def make_builder(timeout: float = 60.0, export_cc: str | None = None):
    import functools

    from tvm.s_tir import meta_schedule as ms

    return ms.builder.LocalBuilder(max_workers=os.cpu_count() or 1, timeout_sec=timeout, f_build=build_kernel,
                                   f_export=functools.partial(export_kernel, cc=export_cc))


def measure_schedules(mods, target, builder, runner, errors: list | None = None) -> list[float | None]:
    """Median seconds of each scheduled module (None for a build or run error; the messages are
    appended to ``errors``)."""
    from tvm.s_tir import meta_schedule as ms

    built = builder.build([ms.builder.BuilderInput(m, target) for m in mods])
    inputs, where = [], []
    out: list[float | None] = [None] * len(mods)
    for i, (m, b) in enumerate(zip(mods, built)):
        if b.error_msg is not None and errors is not None:
            errors.append(b.error_msg)
        if b.error_msg is None:
            inputs.append(ms.runner.RunnerInput(b.artifact_path, "cpu",
                                                ms.arg_info.ArgInfo.from_prim_func(m["main"])))
            where.append(i)
    for i, fut in zip(where, runner.run(inputs)):
        res = fut.result()
        if res.error_msg is None and res.run_secs:
            out[i] = median_secs(res.run_secs)
        elif errors is not None:
            errors.append(res.error_msg)
    for b in built:
        if b.artifact_path:
            shutil.rmtree(os.path.dirname(b.artifact_path), ignore_errors=True)
    return out


def allocate_trials(weights: list[float], budget: int) -> list[int]:
    """Split ``budget`` trials in proportion to ``weights`` (largest remainders; heaviest first)."""
    total = sum(weights) or 1.0
    raw = [budget * w / total for w in weights]
    alloc = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: (alloc[i] - raw[i], -weights[i]))[: budget - sum(alloc)]:
        alloc[i] += 1
    return alloc


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
                f"{best * 1e3:.4f} ms (hand {hand * 1e3:.4f} ms)" if best and hand else f"[tune] {self.done}/{self.total} trials | {task.name}")
        line += f"{' | ' + str(errors) + ' failed' if errors else ''} | elapsed {elapsed:.0f} s, ETA {eta:.0f} s"
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
         only: list[str] | None = None, config=None, stream=None, timeout: float = 60.0, **zoo_options) -> dict:
    """Tune ``model``'s kernels for ``target`` with ``trials`` trials in all (see the module docstring).

    ``search``: ``xgb`` (XGBoost cost model) or ``random``; ``only``: tune just the tasks whose name
    contains one of these strings (the budget is split among them). Returns a summary dict (per task:
    hand and best latency, trials) that is also the CLI's ``--json`` output.
    """
    from tvm.s_tir import meta_schedule as ms

    from ..targets import get_target

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
    tvm_target = preset.tvm_target()
    runner = make_runner(tracker, key, timeout)  # first: an unreachable tracker fails fast
    if tracker and _emulated_device(tracker, key, timeout):
        print(f"[tune] note: the devices under key {key!r} are emulated (qemu): their timings are not a speed "
              "signal; use them to test the tuning path, tune on real boards", file=stream)
    tasks, cfg = extract_tasks(model, preset, config, **zoo_options)
    if only:
        tasks = [t for t in tasks if any(s in t.name for s in only)]
        if not tasks:
            raise SepnetError(f"no task matches {only}")
    with WorkDir(work_dir) as wd:
        wd.check_target(preset, create=True)
        if wd.dropped:
            print(f"[tune] dropped {wd.dropped} incomplete record line(s) left by an interrupted run "
                  f"(kept in *.corrupt)", file=stream)
        db = wd.database
        builder = make_builder(timeout, preset.export_cc)
        hand = wd.hand()
        missing = [t for t in tasks if t.key not in hand]
        if missing:
            print(f"[tune] measuring the hand schedules of {len(missing)} task(s)", file=stream, flush=True)
            scheds = [t.hand_schedule() for t in missing]
            errors: list = []
            secs = measure_schedules([s.mod for s in scheds], tvm_target, builder, runner, errors)
            for t, s, sec in zip(missing, scheds, secs):
                if sec is None:
                    raise SepnetError(f"the hand schedule of {t.name} failed to build or run on the measuring "
                                      f"device: {str(errors[0])[-800:] if errors else 'unknown error'}")
                hand[t.key] = sec
                workload = db.commit_workload(t.mod)
                db.commit_tuning_record(ms.database.TuningRecord(
                    s.trace, workload, [sec], tvm_target, ms.arg_info.ArgInfo.from_prim_func(t.mod["main"])))
            wd.save_hand(hand)
        for t in tasks:
            t.hand_secs = hand[t.key]
            t.weight = t.calls * t.hand_secs
        tasks.sort(key=lambda t: -t.weight)
        done = {k: max(0, len(v) - 1) for k, v in _records_by_key(wd).items()}  # minus the hand record
        alloc = allocate_trials([t.weight for t in tasks], trials)
        planned = [max(0, a - done.get(t.key, 0)) for t, a in zip(tasks, alloc)]
        progress = _Progress(tasks, planned, stream)
        start = time.time()
        for t, n in zip(tasks, planned):
            if n <= 0:
                continue
            t0 = time.time()
            cost_model = (ms.cost_model.XGBModel(num_warmup_samples=max(2, min(16, n // 3)))
                          if search == "xgb" else ms.cost_model.RandomModel())
            space = ms.space_generator.ScheduleFn(
                t.space(), sch_rules=[], postprocs=_postprocs(),
                mutator_probs={ms.mutator.MutateTileSize(): 0.8, ms.mutator.MutateUnroll(): 0.2})
            # MetaSchedule's INFO/DEBUG lines go to WORK_DIR/logs only (its console handler takes the level
            # of this logger, which each tune_tir call resets to DEBUG); the console gets our progress
            logging.getLogger("tvm.s_tir.meta_schedule").setLevel(logging.WARNING)
            with _skip_tensor_intrinsics():
                ms.tune_tir(t.mod, tvm_target, wd.path, max_trials_global=n, num_trials_per_iter=min(trials_per_iter, n),
                            builder=builder, runner=runner, database=db, cost_model=cost_model, space=space,
                            measure_callbacks=ms.measure_callback.MeasureCallback.create("default")
                            + [_progress_callback(progress, t)],
                            task_scheduler="round-robin", seed=search_seed,
                            strategy=ms.search_strategy.EvolutionarySearch(
                                population_size=POPULATION, init_min_unmeasured=min(POPULATION, 16), genetic_num_iters=2))
            wd.log_run({"task": t.name, "key": t.key, "trials": n, "search": search, "seconds": time.time() - t0,
                        "best_secs": progress.best[t.key], "hand_secs": t.hand_secs,
                        "tracker": tracker, "time": time.time()})
        records = _records_by_key(wd)
        rows = []
        for t in tasks:
            good = [s for s in records.get(t.key, []) if not failed(s)]
            best = min(good) if good else None
            rows.append({"task": t.name, "key": t.key, "kind": t.kind, "layers": t.layers, "calls": t.calls,
                         "trials": max(0, len(records.get(t.key, [])) - 1),
                         "failed": sum(1 for s in records.get(t.key, []) if failed(s)),
                         "hand_ms": t.hand_secs * 1e3, "best_ms": best * 1e3 if best else None,
                         "speedup": t.hand_secs / best if best else None})
        hand_total = sum(t.calls * t.hand_secs for t in tasks)
        best_total = sum(t.calls * min(r["best_ms"] / 1e3, t.hand_secs) for t, r in zip(tasks, rows) if r["best_ms"])
        return {"work_dir": wd.path, "target": preset.name, "search": search, "trials_this_run": progress.done,
                "seconds": time.time() - start, "tasks": rows,
                "tuned_kernel_ms": best_total * 1e3, "hand_kernel_ms": hand_total * 1e3, "config": cfg}
