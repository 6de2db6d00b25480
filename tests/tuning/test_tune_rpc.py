"""Tuning measured through a real TVM RPC tracker with two servers on 127.0.0.1: a server that hangs
and then dies mid-tuning turns its trial into a recorded failure and tuning finishes on the other;
unreachable trackers and unknown keys fail fast with a clear message."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.rpc_cluster import RPCCluster, free_port
from tests.tuning.record_counts import failed_trials, lines, parses, trials_recorded
from tvm_sepnet.autotune import tune
from tvm_sepnet.errors import SepnetError
from tvm_sepnet.tuning.workdir import KNOB_RECORDS, RECORDS

SMALL = {"image_size": 64, "num_classes": 10}


def _wait(condition, running, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert running.running(), f"tuning ended before {what}"
        assert time.time() < deadline, f"no {what} within {seconds:.0f} s"
        time.sleep(0.2)


@pytest.mark.slow
def test_tune_through_tracker_survives_a_hung_then_dead_server(tmp_path):
    """After 2 trials server 1 is frozen (SIGSTOP): it stays registered, so the tracker hands it a
    session, which fails at the 20 s session timeout (a recorded failed trial, not a hang). Then it is
    killed (SIGKILL) while tuning is still running, and the other server measures the rest."""
    wd = str(tmp_path / "tune")
    files = [os.path.join(wd, f) for f in (RECORDS, KNOB_RECORDS)]
    with ThreadPoolExecutor(1) as pool, RPCCluster(servers=2, key="sepnet-x86") as cluster:
        future = pool.submit(tune, "sepnet-bq", "x86", trials=8, work_dir=wd, trials_per_iter=2, tracker=cluster.tracker,
                             key="sepnet-x86", timeout=20, only=["bitserial_conv2d[sep2_1_prb1_kxk"],
                             config={"kernel_choice": "bitserial"}, **SMALL)  # a MetaSchedule task (x86 picks dot)
        _wait(lambda: trials_recorded(wd) >= 2, future, 240, "2 trials measured remotely")
        # frozen while registered as free (not between a session's end and its re-registration, when the
        # tracker would never hand it out): the next session it gets hangs
        _wait(lambda: cluster.free_servers() == 2, future, 120, "both servers free")
        victim = cluster.servers[1]
        cluster.freeze(victim)
        before = {f: lines(f) for f in files}
        _wait(lambda: failed_trials(wd) >= 1, future, 120, "failed trial on the frozen server")
        assert future.running() and trials_recorded(wd) < 8  # the server dies while tuning is still running
        cluster.kill(victim)
        assert victim.poll() is not None
        result = future.result(timeout=400)
    assert sum(r["trials"] for r in result["tasks"]) == 8  # every planned trial ran, the failed ones too
    assert trials_recorded(wd) == 8 and 1 <= failed_trials(wd) < 8
    for f in files:  # nothing recorded before the server hung was lost
        after = lines(f)
        assert after[:len(before[f])] == before[f] and all(parses(line) for line in after)
    assert any(r["best_ms"] for r in result["tasks"])


def test_unreachable_tracker_fails_fast(tmp_path):
    start = time.time()
    with pytest.raises(SepnetError, match="unreachable"):
        tune("sepnet-bq", "x86", trials=1, work_dir=str(tmp_path / "t"), tracker=f"127.0.0.1:{free_port()}",
             key="k", **SMALL)
    assert time.time() - start < 30


def test_tracker_without_the_key_is_a_clear_error(tmp_path):
    with RPCCluster(servers=1, key="other-key") as cluster:
        with pytest.raises(SepnetError, match="no server registered under key 'sepnet-x86'"):
            tune("sepnet-bq", "x86", trials=1, work_dir=str(tmp_path / "t"), tracker=cluster.tracker,
                 key="sepnet-x86", **SMALL)
