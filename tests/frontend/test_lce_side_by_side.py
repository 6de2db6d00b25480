"""The side-by-side bench with Larq Compute Engine (tvm_sepnet.bench.lce) on an LCE fixture file: outputs
and binary layers against LCE's interpreter, both engines on the thread count asked for, the thread CPU-time
clock. Needs a Python with larq-compute-engine: $TVM_SEPNET_LCE_PYTHON (docs: peers.md), else skipped."""
import os

import pytest
import tvm

from tvm_sepnet.bench.lce import side_by_side, summary_lines
from tvm_sepnet.errors import SepnetError

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "lce")
LCE_PYTHON = os.environ.get("TVM_SEPNET_LCE_PYTHON")


def test_thread_clock_needs_one_thread():
    with pytest.raises(SepnetError, match="threads=1"):
        side_by_side(os.path.join(DATA, "quicknet_mini.tflite"), threads=2, clock="thread")


@pytest.mark.skipif(not LCE_PYTHON, reason="no LCE Python: set TVM_SEPNET_LCE_PYTHON")
@pytest.mark.parametrize("threads,clock", [(1, "thread"), (2, "wall")])
def test_side_by_side_agrees_with_lce(threads, clock):
    num_threads = tvm.get_global_func("runtime.NumThreads")
    before = num_threads()
    r = side_by_side(os.path.join(DATA, "quicknet_mini.tflite"), lce_python=LCE_PYTHON, rounds=2, runs=3, warmup=1,
                     layer_rounds=1, threads=threads, clock=clock, pause=0.0)
    assert num_threads() == before  # TVM's pool is back to its count
    assert r["threads"] == threads and r["clock"] == clock
    # softmax outputs: float convs and the dense layer sum in another order than LCE's
    assert r["agreement"]["max_abs_diff"] <= 1e-5 * r["agreement"]["max_abs_output"]
    assert len(r["binary_layers"]) == 4 and all(b["mismatches"] == 0 for b in r["binary_layers"])
    e = r["end_to_end"]
    assert e["lce_ms"] > 0 and e["tvm_sepnet_ms"] > 0 and len(e["rounds"]["lce"]) == 2
    assert {row["layer"] for row in r["layers"]} >= {b["layer"] for b in r["binary_layers"]}
    assert all(row["lce_ms"] > 0 and row["tvm_sepnet_ms"] > 0 for row in r["layers"])
    assert ("thread CPU time" if clock == "thread" else "wall time") in summary_lines(r)[0]
