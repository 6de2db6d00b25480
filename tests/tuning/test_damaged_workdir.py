"""A tuning work directory with damaged files (docs/tuning.md, "Damaged files"): unreadable record lines
are reported (file:line) and skipped, the readable records still apply; a damaged target.json, lock or
summary is an error naming the file, exit status 2, never a traceback."""
import io
import json
import os
import shutil

import pytest

from tvm_sepnet.autotune import tune
from tvm_sepnet.cli import main
from tvm_sepnet.targets import get_target
from tvm_sepnet.tuning.workdir import CONFIRMED, HAND, LOCK, RECORDS, TARGET, WORKLOADS, TuningDirError, WorkDir, read_database

SMALL = ["--image-size", "64", "--num-classes", "10"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A real work directory: the float conv1 of sepnet-bq at 64x64, its hand schedule and 2 trials."""
    wd = str(tmp_path_factory.mktemp("tuned") / "wd")
    tune("sepnet-bq", "x86", trials=2, work_dir=wd, trials_per_iter=2, only=["float_conv2d_exact[conv1]"],
         model_check=False, image_size=64, num_classes=10, stream=io.StringIO())
    return wd


def _copy(tuned, tmp_path, name="wd"):
    dst = str(tmp_path / name)
    shutil.copytree(tuned, dst, ignore=shutil.ignore_patterns(LOCK))
    return dst


def _compile(wd, out, capsys):
    capsys.readouterr()
    code = main(["compile", "sepnet-bq", *SMALL, "--tuning", wd, "-o", out, "--json"])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap


def _damage_record_line(wd: str, damage: str) -> tuple[bytes, int]:
    """Damage line 2 of the records file of ``wd``; returns the new file text and its number of records."""
    path = os.path.join(wd, RECORDS)
    lines = open(path, "rb").read().split(b"\n")
    n_records = sum(1 for line in lines if line.strip())
    assert n_records >= 3  # the hand schedule's record and 2 trials
    if damage == "cut_json":
        lines[1] = lines[1][: len(lines[1]) // 2]
    elif damage == "bad_trace":  # still JSON: only MetaSchedule's parser finds it
        damaged = lines[1].replace(b'["GetSBlock",[],', b'["GetSBlock",[],[],', 1)  # 5 fields, not 4
        assert damaged != lines[1]
        json.loads(damaged)
        lines[1] = damaged
    else:
        lines[1] = b'{"not": "a record"}'
    text = b"\n".join(lines)
    open(path, "wb").write(text)
    return text, n_records


def test_an_unreadable_record_line_is_reported_and_skipped_by_compile(tuned, tmp_path, capsys):
    code, cap = _compile(_copy(tuned, tmp_path, "intact"), str(tmp_path / "a"), capsys)
    assert code == 0 and "warning" not in cap.err
    intact = json.loads(cap.out)["tuning"]
    assert intact["tuned"] + intact["hand_faster"] == 1 and intact["skipped_lines"] == []
    wd = _copy(tuned, tmp_path)
    text, _ = _damage_record_line(wd, "cut_json")
    code, cap = _compile(wd, str(tmp_path / "b"), capsys)
    assert code == 0
    assert f"1 unreadable line(s) skipped: {RECORDS}:2 (not JSON)" in cap.err
    summary = json.loads(cap.out)["tuning"]
    assert [(s["file"], s["line"]) for s in summary["skipped_lines"]] == [(RECORDS, 2)]
    assert summary["tuned"] + summary["hand_faster"] == 1  # the other records still apply
    assert open(os.path.join(wd, RECORDS), "rb").read() == text  # a build never rewrites the directory


@pytest.mark.parametrize("damage", ["cut_json", "bad_trace", "not_a_record"])
def test_a_reader_skips_an_unreadable_record_line(tuned, tmp_path, damage):
    wd = _copy(tuned, tmp_path)
    _, n_records = _damage_record_line(wd, damage)
    kept_wl, kept_rec, skipped = read_database(os.path.join(wd, WORKLOADS), os.path.join(wd, RECORDS), deep=True)
    assert [(s["file"], s["line"]) for s in skipped] == [(RECORDS, 2)]
    assert len(kept_rec) == n_records - 1 and len(kept_wl) == 1
    reader = WorkDir(wd, lock=False, create=False)
    reader.database  # noqa: B018 - loads the snapshot of the readable lines
    assert [(s["file"], s["line"]) for s in reader.skipped] == [(RECORDS, 2)]
    hand = reader.hand()
    ((key, secs),) = hand.items()
    best = reader.database.get_top_k(reader.database.get_all_tuning_records()[0].workload, 1)[0]
    assert len(reader.database.get_all_tuning_records()) == n_records - 1
    assert min(float(t) for t in best.run_secs) > 0 and secs > 0


def test_a_tuner_drops_unreadable_lines_and_keeps_them_aside(tuned, tmp_path):
    wd = _copy(tuned, tmp_path)
    path = os.path.join(wd, RECORDS)
    lines = open(path, "rb").read().split(b"\n")
    garbled = lines[1][:30]
    lines[1] = garbled
    open(path, "wb").write(b"\n".join(lines))
    with WorkDir(wd) as opened:
        assert [(s["file"], s["line"]) for s in opened.skipped] == [(RECORDS, 2)]
        assert len(opened.measurements()) == 2
    assert open(path + ".corrupt", "rb").read().strip() == garbled


def test_a_record_of_a_skipped_workload_is_skipped_and_the_rest_renumbered(tmp_path):
    workloads, records = tmp_path / WORKLOADS, tmp_path / RECORDS
    workloads.write_text('["1", "a"]\n["2", "b\n["3", "c"]\n')  # line 2 cut: workload index 1 unreadable
    rec = [[i, [["t"], [[1e-5, 2e-5, 3e-5][i]], {"kind": "llvm"}, []]] for i in (0, 1, 2)]
    records.write_text("".join(json.dumps(r) + "\n" for r in rec))
    kept_wl, kept_rec, skipped = read_database(str(workloads), str(records))
    assert [(s["file"], s["line"]) for s in skipped] == [(RECORDS, 2), (WORKLOADS, 2)]
    assert [json.loads(x)[0] for x in kept_wl] == ["1", "3"]
    assert [json.loads(x)[0] for x in kept_rec] == [0, 1]  # workload "3" is now index 1
    assert json.loads(kept_rec[1])[1][1] == [3e-5]  # the record of workload "3"


@pytest.mark.parametrize("name,damage", [(TARGET, "cut"), (TARGET, "list"), (CONFIRMED, "cut"), (HAND, "binary"),
                                         ("model_check.json", "cut")])
def test_a_damaged_directory_file_is_an_error_naming_it(tuned, tmp_path, capsys, name, damage):
    wd = _copy(tuned, tmp_path)
    path = os.path.join(wd, name)
    text = open(path, "rb").read() if os.path.exists(path) else json.dumps({"k": {"slower": False}}).encode()
    data = {"cut": text[: max(1, len(text) // 2)], "list": b"[1, 2]", "binary": b"\xff\xfe\x00garbage"}[damage]
    open(path, "wb").write(data)
    if name in (TARGET, CONFIRMED):  # through the command line: exit 2, the file named, no traceback
        code, cap = _compile(wd, str(tmp_path / "a"), capsys)
        assert code == 2
        assert f"tuning directory file {path!r} is damaged" in cap.err
        assert not os.path.exists(tmp_path / "a")
    opened = WorkDir(wd, lock=False, create=False)
    with pytest.raises(TuningDirError, match=name):
        opened.check_target(get_target("x86"), create=False) if name == TARGET else opened.load_json(name)


def test_a_lock_that_cannot_be_opened_is_an_error_naming_it(tmp_path):
    wd = tmp_path / "wd"
    (wd / LOCK).mkdir(parents=True)  # e.g. a directory left in its place
    with pytest.raises(TuningDirError, match=r"\.lock' \(the lock\) cannot be opened"):
        WorkDir(str(wd))
