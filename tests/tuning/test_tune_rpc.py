"""Tuning measured through a real TVM RPC tracker with two servers on 127.0.0.1; a server killed
mid-tuning turns its trials into errors and tuning finishes on the other; unreachable trackers and
unknown keys fail fast with a clear message."""
import os
import threading
import time

import pytest

from tests.rpc_cluster import RPCCluster, free_port
from tests.tuning.record_counts import lines, parses, trials_recorded
from tvm_sepnet.autotune import tune
from tvm_sepnet.errors import SepnetError
from tvm_sepnet.tuning.workdir import KNOB_RECORDS, RECORDS

SMALL = {"image_size": 64, "num_classes": 10}


@pytest.mark.slow
def test_tune_through_tracker_survives_a_dead_server(tmp_path):
    wd = str(tmp_path / "tune")
    with RPCCluster(servers=2, key="sepnet-x86") as cluster:
        result, errors = {}, []

        def run():
            try:
                result.update(tune("sepnet-bq", "x86", trials=8, work_dir=wd, trials_per_iter=2,
                                   tracker=cluster.tracker, key="sepnet-x86", timeout=20, **SMALL))
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 180
        while time.time() < deadline and thread.is_alive():  # 2 trials measured remotely
            if trials_recorded(wd) >= 2:
                break
            time.sleep(0.2)
        files = [os.path.join(wd, f) for f in (RECORDS, KNOB_RECORDS)]
        before = {f: lines(f) for f in files}
        cluster.kill(cluster.servers[1])
        thread.join(timeout=400)
        assert not thread.is_alive() and not errors, errors
    assert sum(r["trials"] for r in result["tasks"]) == 8  # every planned trial ran (some may have failed)
    assert trials_recorded(wd) == 8
    for f in files:  # nothing recorded before the kill was lost
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
