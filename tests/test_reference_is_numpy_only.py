"""The reference executor is the oracle: it must not import TVM."""
import subprocess
import sys


def test_reference_executor_imports_no_tvm():
    code = ("import sys; import tvm_sepnet.reference, tvm_sepnet.calibrate; "
            "bad = [m for m in sys.modules if m == 'tvm' or m.startswith('tvm.')]; print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
