"""The tuning work directory: one MetaSchedule JSON database, locked, repaired after a crash.

Layout of ``--work-dir DIR``::

    DIR/database_workload.json        MetaSchedule JSONDatabase (one JSON line per workload)
    DIR/database_tuning_record.json   one JSON line per measured trial, appended as trials finish
    DIR/knob_records.jsonl            knob-search trials (tvm_sepnet.tuning.knob_search), one JSON line each
    DIR/confirmed.json                each task's best record re-measured interleaved with its hand schedule
    DIR/model_check.json              each tuned choice's layers timed inside the model against the hand build
    DIR/hand.json                     measured latency of every task's hand schedule (by workload)
    DIR/target.json                   the target preset the directory was tuned for (one per directory)
    DIR/runs.jsonl                    one line per tuning run and task: trials, best, time
    DIR/.lock                         held (flock) while a run uses the directory
    DIR/logs/                         MetaSchedule's own logs

Crash safety: MetaSchedule appends a record line per finished trial. A run killed with SIGKILL can
at worst leave the last line incomplete; the next tuning run (holding the lock) drops such a line
(keeping a copy in ``*.corrupt``) before the database is loaded, so every completed record survives
and no corrupt line reaches MetaSchedule. Readers (``build(..., tuning=DIR)``, curves) never rewrite
the files: they load a snapshot of the complete lines, so a build during a tuning run is safe. Our own
files are written atomically (temporary file + rename).
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile

from ..errors import SepnetError

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
KNOB_RECORDS = "knob_records.jsonl"
CONFIRMED = "confirmed.json"
MODEL_CHECK = "model_check.json"
HAND = "hand.json"
TARGET = "target.json"
RUNS = "runs.jsonl"
LOCK = ".lock"


#: how the CPU tuner times a trial (tvm_sepnet.tuning.measure.EVALUATOR); a directory's records are only
#: comparable with trials timed the same way
MEASUREMENT = "warm-up runs (3..200, 30 ms), then number=1 repeat=25 median, caches flushed except the first argument"

FAILED_SECS = 1e10  # what MetaSchedule records as the run time of a failed trial


def median_secs(secs) -> float:
    """Median of a record's run times; ``FAILED_SECS`` for a trial without any."""
    values = sorted(float(v) for v in secs or ())
    if not values:
        return FAILED_SECS
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def failed(secs: float) -> bool:
    return secs >= FAILED_SECS / 10


class WorkDirBusyError(SepnetError):
    """Another process holds the work directory's lock."""


def write_json_atomic(path: str, data) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def append_json_line(path: str, record: dict) -> None:
    """Append one JSON line to ``path`` and fsync it (a kill leaves at most this line incomplete)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def split_json_lines(path: str) -> tuple[list[bytes], list[bytes], bool]:
    """(complete JSON lines, other lines, whether the file ends with a newline) of ``path``."""
    if not os.path.exists(path):
        return [], [], True
    with open(path, "rb") as f:
        raw = f.read()
    good, bad = [], []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            json.loads(line)
            good.append(line)
        except ValueError:
            bad.append(line)
    return good, bad, not raw or raw.endswith(b"\n")


def _write_lines(path: str, lines: list[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def repair_json_lines(path: str) -> int:
    """Drop lines of ``path`` that are not complete JSON values (a crash mid-append); returns how many
    were dropped. The dropped text goes to ``path + '.corrupt'``; the file is rewritten atomically.
    Only the holder of the directory's lock may do this (a running tuner appends to the file)."""
    good, bad, ends_clean = split_json_lines(path)
    if not bad and ends_clean:
        return 0
    with open(path + ".corrupt", "ab") as f:
        f.write(b"\n".join(bad) + b"\n")
    _write_lines(path, good)
    return len(bad)


class WorkDir:
    """An opened (and, with ``lock=True``, exclusively locked) tuning work directory."""

    def __init__(self, path: str, lock: bool = True, create: bool = True):
        self.path = os.path.abspath(path)
        if not os.path.isdir(self.path):
            if not create:
                raise SepnetError(f"tuning directory {path!r} does not exist; run tvm-sepnet tune --work-dir {path} first")
            os.makedirs(self.path)
        self._lock_fd = None
        self._snapshot = None
        if lock:
            self._acquire()
            self.dropped = sum(repair_json_lines(self.file(f)) for f in (RECORDS, WORKLOADS, KNOB_RECORDS))
        else:  # a reader (a build) never rewrites files a running tuner may be appending to
            self.dropped = 0
        self._database = None

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _acquire(self) -> None:
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WorkDirBusyError(
                f"tuning directory {self.path!r} is in use by another tvm-sepnet tune (pid {holder}); "
                "wait for it to finish or use another --work-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def database(self):
        """The MetaSchedule JSONDatabase of this directory (loaded once)."""
        if self._database is None:
            from tvm.s_tir import meta_schedule as ms

            workloads, records = self.file(WORKLOADS), self.file(RECORDS)
            if self._lock_fd is None:  # a reader loads a snapshot of the complete lines
                self._snapshot = tempfile.TemporaryDirectory(prefix="sepnet-tuning-")
                copies = []
                for path in (workloads, records):
                    copy = os.path.join(self._snapshot.name, os.path.basename(path))
                    _write_lines(copy, split_json_lines(path)[0])
                    copies.append(copy)
                workloads, records = copies
            self._database = ms.database.JSONDatabase(
                path_workload=workloads, path_tuning_record=records, allow_missing=True)
        return self._database

    def check_target(self, preset, create: bool, measurement: str | None = None) -> None:
        """Bind the directory to a target preset (``create``), or raise if it was tuned for another
        one: kernels are matched by their target-independent workload, so records of another
        target would otherwise apply silently. A tuner passes its ``measurement`` (how trials are
        timed): trials timed differently are not comparable, so such a directory is refused too."""
        path = self.file(TARGET)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                tuned_for = json.load(f)
            if tuned_for.get("target") != preset.name or tuned_for.get("target_dict") != preset.target_dict:
                raise SepnetError(
                    f"tuning directory {self.path!r} was tuned for target {tuned_for.get('target')!r} "
                    f"({tuned_for.get('target_dict')}), not {preset.name!r} ({preset.target_dict}); "
                    "use another --work-dir for this target")
            if measurement is not None and tuned_for.get("measurement") != measurement:
                raise SepnetError(
                    f"tuning directory {self.path!r} holds trials timed as {tuned_for.get('measurement') or 'an older tuner did'}"
                    f", this tuner times them as {measurement}: their times do not compare; use another --work-dir")
        elif create:
            write_json_atomic(path, {"target": preset.name, "target_dict": preset.target_dict,
                                     **({"measurement": measurement} if measurement else {})})

    def load_json(self, name: str) -> dict:
        """A JSON file of the directory ({} if absent)."""
        if not os.path.exists(self.file(name)):
            return {}
        with open(self.file(name), encoding="utf-8") as f:
            return json.load(f)

    def hand(self) -> dict:
        """{workload key: hand-schedule seconds}."""
        return self.load_json(HAND)

    def save_hand(self, hand: dict) -> None:
        self.save_json(HAND, hand)

    def confirmed(self) -> dict:
        """{workload key: {"schedule", "secs", ...}}: best records re-measured against the hand schedule."""
        return self.load_json(CONFIRMED)

    def save_confirmed(self, confirmed: dict) -> None:
        self.save_json(CONFIRMED, confirmed)

    def save_json(self, name: str, data: dict) -> None:
        """Write a JSON file of the directory whole (atomically: a kill leaves the old or the new one)."""
        write_json_atomic(self.file(name), data)

    def log_run(self, entry: dict) -> None:
        append_json_line(self.file(RUNS), entry)

    def measurements(self) -> list[tuple[str, float]]:
        """(workload key, median seconds) of every record, in the order they were measured (the record
        file is append-only; a workload's first record is its hand schedule)."""
        keys = [str(json.loads(line)[0]) for line in split_json_lines(self.file(WORKLOADS))[0]]
        out = []
        for line in split_json_lines(self.file(RECORDS))[0]:  # a line being appended is not complete yet
            idx, rec = json.loads(line)
            if idx < len(keys):
                out.append((keys[idx], median_secs(rec[1])))
        return out

    def runs(self) -> list[dict]:
        if not os.path.exists(self.file(RUNS)):
            return []
        out = []
        with open(self.file(RUNS), encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line cut by a kill
        return out
