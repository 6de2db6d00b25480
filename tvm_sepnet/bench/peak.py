"""Measure this CPU's peak binary-MAC (popcount), int16-MAC (vpmaddwd) and fp32-FMA throughput with
the C micro-kernels of ``peak.c`` (compiled here with ``cc -O3 -march=native -fopenmp``)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak.c")


def measure_peaks(threads: int, scale: int = 1) -> dict:
    """Peaks in operations/s over ``threads`` OpenMP threads, best of 3 trials: popcount (binary MACs:
    ``popcount_scalar``, ``popcount_avx2`` (vpshufb), ``popcount_avx512`` (vpopcntq), ``popcount`` the
    best), ``int16_mac`` (vpmaddwd), ``vnni_mac`` (vpdpbusd), ``ubsw_mac`` (vpmaddubsw), ``amx_mac``
    (tdpbusd), ``fp32_mac`` (FMA); 0 for a unit this CPU lacks; plus ``method``. Raises RuntimeError if
    no C compiler is available."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) to build the peak micro-kernels")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "peak")
        subprocess.run([cc, "-O3", "-march=native", "-fopenmp", SOURCE, "-o", exe], check=True,
                       capture_output=True, text=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run([exe, str(scale)], check=True, capture_output=True, text=True, env=env, timeout=300)
    pop_s, pop_v, i16, f32, vpopcntq, vnni, ubsw, amx, nthreads = out.stdout.split()
    pop_s, pop_v, vpopcntq = float(pop_s), float(pop_v), float(vpopcntq)
    return {"popcount_scalar": pop_s, "popcount_avx2": pop_v, "popcount_avx512": vpopcntq,
            "popcount": max(pop_s, pop_v, vpopcntq), "int16_mac": float(i16), "fp32_mac": float(f32),
            "vnni_mac": float(vnni), "ubsw_mac": float(ubsw), "amx_mac": float(amx), "threads": int(nthreads),
            "method": "tvm_sepnet/bench/peak.c: register-resident micro-kernels, cc -O3 -march=native "
                      "-fopenmp, best of 3 trials, one OpenMP thread per core"}
