"""Counting a tuning work directory's records the way the tests need it (complete JSON lines only)."""
import json
import os

from tvm_sepnet.tuning.workdir import HAND, KNOB_RECORDS, RECORDS, failed


def lines(path):
    """Non-empty lines of ``path`` ([] if it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line]


def parses(line) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def trials_recorded(wd) -> int:
    """Complete trial records of both kinds: knob-search trials (not the defaults, not confirmations)
    and MetaSchedule records past the hand schedules (0 until ``hand.json``, written after them, exists)."""
    knob = [json.loads(line) for line in lines(os.path.join(wd, KNOB_RECORDS)) if parses(line)]
    n = sum(1 for r in knob if r["search"] not in ("default", "confirm"))
    hand = os.path.join(wd, HAND)
    if os.path.exists(hand):
        with open(hand, encoding="utf-8") as f:
            n += sum(1 for line in lines(os.path.join(wd, RECORDS)) if parses(line)) - len(json.load(f))
    return n


def failed_trials(wd) -> int:
    """Trials recorded as failed: knob-search trials without seconds, MetaSchedule records whose run
    times are MetaSchedule's failure value."""
    knob = [json.loads(line) for line in lines(os.path.join(wd, KNOB_RECORDS)) if parses(line)]
    n = sum(1 for r in knob if r["search"] not in ("default", "confirm") and r.get("secs") is None)
    ms = [json.loads(line) for line in lines(os.path.join(wd, RECORDS)) if parses(line)]
    return n + sum(1 for r in ms if any(failed(float(s)) for s in r[1][1]))
