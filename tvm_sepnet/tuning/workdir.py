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
#: what each summary file holds (for the message when one is damaged)
SUMMARIES = {CONFIRMED: "each task's best record re-measured against its hand schedule",
             MODEL_CHECK: "the model check's verdicts", HAND: "the hand schedules' measured times"}


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


class TuningDirError(SepnetError):
    """A file of the tuning work directory (target.json, the lock, a summary) is damaged."""


def read_json_file(path: str, what: str, expect=dict):
    """The JSON value of the directory file ``path`` (``what`` it holds, for the message); a file that
    cannot be read, is not JSON or not of type ``expect`` raises :class:`TuningDirError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
    else:
        if isinstance(value, expect):
            return value
        reason = f"not a JSON {expect.__name__}"
    raise TuningDirError(f"tuning directory file {path!r} is damaged ({reason}); it holds {what}: restore it, "
                         "delete it (its tuner re-creates it on the next tvm-sepnet tune) or use another --work-dir")


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


def split_json_lines(path: str) -> tuple[list[bytes], list[tuple[int, bytes]], bool]:
    """(complete JSON lines, (1-based line number, text) of the other non-empty lines, whether the file
    ends with a newline) of ``path``."""
    if not os.path.exists(path):
        return [], [], True
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise TuningDirError(f"tuning directory file {path!r} cannot be read ({err})") from None
    good, bad = [], []
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
            good.append(line)
        except ValueError:
            bad.append((number, line))
    return good, bad, not raw or raw.endswith(b"\n")


def _workload_problem(value) -> str | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        return None
    return "not a MetaSchedule workload ([hash, module])"


def _record_problem(value) -> str | None:
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and not isinstance(value[0], bool)
            and value[0] >= 0 and isinstance(value[1], list) and len(value[1]) == 4):
        return None
    return "not a MetaSchedule record ([workload index, [trace, run_secs, target, args]])"


def read_database(workloads: str, records: str, pending_tail: bool = False,
                  deep: bool = False) -> tuple[list[bytes], list[bytes], list[dict]]:
    """(workload lines, record lines, skipped) of a MetaSchedule JSON database: the lines MetaSchedule
    can load, records renumbered past any skipped workload line (a record names its workload by its
    index among the workload file's non-empty lines), and ``skipped``: one ``{"file", "line", "why"}``
    per line left out (not JSON, not the shape of a workload / record, a record of a skipped or absent
    workload, and with ``deep`` a workload or trace that MetaSchedule cannot parse). ``pending_tail``: an
    unterminated last line is a line being appended (a reader of a running tuner's files), not reported."""
    skipped = []

    def lines(path, valid):
        good, bad, ends_clean = split_json_lines(path)
        tail = bad[-1][0] if bad and not ends_clean and pending_tail else None
        name = os.path.basename(path)
        skipped.extend({"file": name, "line": n, "why": "not JSON"} for n, _ in bad if n != tail)
        out = []
        for number, line in zip(good_line_numbers(path), good):
            why = valid(json.loads(line))
            if why:
                skipped.append({"file": name, "line": number, "why": why})
            else:
                out.append((number, line))
        return out, sorted([n for n, _ in bad] + good_line_numbers(path))

    wl, all_wl = lines(workloads, _workload_problem)
    recs, _ = lines(records, _record_problem)
    parsed = {}
    if deep:
        from tvm.s_tir import meta_schedule as ms

        for number, line in list(wl):
            try:
                parsed[number] = ms.database.Workload.from_json(json.loads(line))
            except Exception as err:  # noqa: BLE001 - TVM's parser raises several kinds
                wl.remove((number, line))
                skipped.append({"file": os.path.basename(workloads), "line": number, "why": _first_line(err)})
    kept_wl, index = [], {}
    kept_numbers = dict(wl)
    for old_index, number in enumerate(all_wl):
        if number in kept_numbers:
            index[old_index] = (len(kept_wl), number)
            kept_wl.append(kept_numbers[number])
    kept_rec = []
    for number, line in recs:
        value = json.loads(line)
        if value[0] not in index:
            skipped.append({"file": os.path.basename(records), "line": number,
                            "why": f"its workload (index {value[0]}) is not readable"})
            continue
        renumbered, wl_number = index[value[0]]
        if deep:
            from tvm.s_tir import meta_schedule as ms

            try:
                ms.database.TuningRecord.from_json(value[1], parsed[wl_number])
            except Exception as err:  # noqa: BLE001
                skipped.append({"file": os.path.basename(records), "line": number, "why": _first_line(err)})
                continue
        kept_rec.append(line if renumbered == value[0] else json.dumps([renumbered, value[1]]).encode())
    skipped.sort(key=lambda s: (s["file"], s["line"]))
    return kept_wl, kept_rec, skipped


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160] if text else ''}"


def good_line_numbers(path: str) -> list[int]:
    """1-based line numbers of the complete JSON lines of ``path`` (as :func:`split_json_lines` keeps them)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read()
    out = []
    for number, line in enumerate(raw.split(b"\n"), 1):
        if line.strip():
            try:
                json.loads(line)
                out.append(number)
            except ValueError:
                pass
    return out


def format_skipped(skipped: list[dict], limit: int = 8) -> str:
    """'N unreadable line(s) skipped: FILE:LINE (why), ...'."""
    shown = ", ".join(f"{s['file']}:{s['line']} ({s['why']})" for s in skipped[:limit])
    more = f", and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f"{len(skipped)} unreadable line(s) skipped: {shown}{more}"


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
        f.write(b"\n".join(line for _, line in bad) + b"\n")
    _write_lines(path, good)
    return len(bad)


def repair_database(workloads: str, records: str, deep: bool = False) -> list[dict]:
    """Rewrite a MetaSchedule JSON database without the lines :func:`read_database` skips (their text
    kept in ``*.corrupt``); returns the skipped lines. Only the holder of the directory's lock may."""
    kept_wl, kept_rec, skipped = read_database(workloads, records, deep=deep)
    if not skipped:
        for path in (workloads, records):  # an unterminated last line that parsed: end it
            if os.path.exists(path) and os.path.getsize(path):
                with open(path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        _write_lines(path, kept_wl if path == workloads else kept_rec)
        return []
    for path, kept in ((workloads, kept_wl), (records, kept_rec)):
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            text = f.read().split(b"\n")
        dropped = [text[s["line"] - 1] for s in skipped if s["file"] == os.path.basename(path)]
        if dropped:
            with open(path + ".corrupt", "ab") as f:
                f.write(b"\n".join(dropped) + b"\n")
        _write_lines(path, kept)
    return skipped


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
        self.skipped: list[dict] = []  # {"file", "line", "why"} of every unreadable line left out
        if lock:
            self._acquire()
            self.skipped = repair_database(self.file(WORKLOADS), self.file(RECORDS))
            knob_good, knob_bad, _ = split_json_lines(self.file(KNOB_RECORDS))
            self.skipped += [{"file": KNOB_RECORDS, "line": n, "why": "not JSON"} for n, _ in knob_bad]
            repair_json_lines(self.file(KNOB_RECORDS))
            self.dropped = len(self.skipped)
        else:  # a reader (a build) never rewrites files a running tuner may be appending to
            self.dropped = 0
        self._database = None

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _acquire(self) -> None:
        try:
            fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise TuningDirError(f"tuning directory file {self.file(LOCK)!r} (the lock) cannot be opened ({err}); "
                                 "remove it when no tvm-sepnet tune runs on this directory") from None
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

            try:
                self._database = self._load_database(ms, deep=False)
            except Exception:  # noqa: BLE001 - a JSON line whose workload or trace MetaSchedule cannot parse
                # find those lines one by one (slower: only when the fast load failed) and leave them out
                self._database = self._load_database(ms, deep=True)
        return self._database

    def _load_database(self, ms, deep: bool):
        """The JSONDatabase of the directory's readable lines: the lock holder rewrites the files without
        the others (text kept in ``*.corrupt``); a reader loads a snapshot of them."""
        workloads, records = self.file(WORKLOADS), self.file(RECORDS)
        if self._lock_fd is not None:
            if deep:
                found = repair_database(workloads, records, deep=True)
                self.skipped += found
                self.dropped += len(found)
        else:
            self._snapshot = self._snapshot or tempfile.TemporaryDirectory(prefix="sepnet-tuning-")
            kept_wl, kept_rec, skipped = read_database(workloads, records, pending_tail=True, deep=deep)
            known = {(s["file"], s["line"]) for s in self.skipped}
            self.skipped += [s for s in skipped if (s["file"], s["line"]) not in known]
            copies = []
            for path, kept in ((workloads, kept_wl), (records, kept_rec)):
                copy = os.path.join(self._snapshot.name, os.path.basename(path))
                _write_lines(copy, kept)
                copies.append(copy)
            workloads, records = copies
        try:
            return ms.database.JSONDatabase(path_workload=workloads, path_tuning_record=records, allow_missing=True)
        except Exception as err:  # noqa: BLE001
            if not deep:
                raise
            raise TuningDirError(f"tuning directory {self.path!r}: MetaSchedule cannot load {WORKLOADS} / {RECORDS} "
                                 f"({_first_line(err)}); re-tune into another --work-dir") from None

    def check_target(self, preset, create: bool, measurement: str | None = None) -> None:
        """Bind the directory to a target preset (``create``), or raise if it was tuned for another
        one: kernels are matched by their target-independent workload, so records of another
        target would otherwise apply silently. A tuner passes its ``measurement`` (how trials are
        timed): trials timed differently are not comparable, so such a directory is refused too."""
        path = self.file(TARGET)
        if os.path.exists(path):
            tuned_for = read_json_file(path, "the target the directory was tuned for")
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
        return read_json_file(self.file(name), SUMMARIES.get(name, "a summary of the tuning runs"))

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
        kept_wl, kept_rec, _ = read_database(self.file(WORKLOADS), self.file(RECORDS), pending_tail=True)
        keys = [str(json.loads(line)[0]) for line in kept_wl]
        out = []
        for line in kept_rec:
            idx, rec = json.loads(line)
            out.append((keys[idx], median_secs(rec[1])))
        return out

    def runs(self) -> list[dict]:
        if not os.path.exists(self.file(RUNS)):
            return []
        good, bad, ends_clean = split_json_lines(self.file(RUNS))
        cut = bad[-1][0] if bad and not ends_clean else None  # a last line cut by a kill
        self.skipped += [{"file": RUNS, "line": n, "why": "not JSON"} for n, _ in bad if n != cut]
        return [v for v in (json.loads(line) for line in good) if isinstance(v, dict)]
