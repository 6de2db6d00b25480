"""Measure this CPU's peak binary-MAC (popcount), int16-MAC (vpmaddwd) and fp32-FMA throughput with
the C micro-kernels of ``peak.c`` (compiled here with ``cc -O3 -march=native -fopenmp``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak.c")


def measure_peaks(threads: int, scale: int = 1) -> dict:
    """{"popcount_scalar", "popcount_avx2", "popcount", "int16_mac", "fp32_mac"} in operations/s
    (binary MACs for popcount: 64 per 64-bit word) over ``threads`` OpenMP threads, best of 3 trials,
    plus ``method``. Raises RuntimeError if no C compiler is available."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) to build the peak micro-kernels")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "peak")
        subprocess.run([cc, "-O3", "-march=native", "-fopenmp", SOURCE, "-o", exe], check=True,
                       capture_output=True, text=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run([exe, str(scale)], check=True, capture_output=True, text=True, env=env, timeout=300)
    pop_s, pop_v, i16, f32, nthreads = out.stdout.split()
    pop_s, pop_v = float(pop_s), float(pop_v)
    return {"popcount_scalar": pop_s, "popcount_avx2": pop_v, "popcount": max(pop_s, pop_v),
            "int16_mac": float(i16), "fp32_mac": float(f32), "threads": int(nthreads),
            "method": "tvm_sepnet/bench/peak.c: register-resident micro-kernels, cc -O3 -march=native "
                      "-fopenmp, best of 3 trials, one OpenMP thread per core"}
