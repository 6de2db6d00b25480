"""Speed of the numpy twins the reference executor runs (moved here from the kernel unit tests, which
asserted wall-clock limits: a timing under load is not a correctness result).

Times, on SEP-Net layer shapes, the bitserial twin (im2col words, 1x64x56x56 -> 64, 3x3, A = 2) with the
brute-force integer conv on the stored signs, and the int8 twin (1x512x14x14 -> 128, 1x1, 4 groups).
The unit tests used to require them under 2 s and 1 s; ``--check`` exits 1 when a median exceeds those
budgets. Usage: ``python benchmarks/reference_speed.py [--runs N] [--json] [--check]``.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from schedules.bitserial_conv2d import packing
from schedules.bitserial_conv2d import reference as bitserial
from schedules.common import pack_bits_for
from schedules.int8_conv2d import reference as int8
from schedules.quantize import reference as quantize
from tvm_sepnet.bench.timing import median_seconds

BUDGET_SECS = {"bitserial_twin_and_brute_force": 2.0, "int8_twin": 1.0}


def bitserial_case(rng):
    c, o, k, bits, pbits = 64, 64, 3, 2, 64
    q = rng.integers(0, 1 << bits, (1, c, 56, 56)).astype(np.uint8)
    signs = np.where(rng.random((o, c, k, k)) < 0.5, -1, 1).astype(np.int8)
    xcol = quantize.bitpack_im2col(q, bits, 1, pbits, k, 1, 1, 1)
    wk = packing.prepare_weights(packing.pack_weights(signs, pack_bits_for(c)), c, pbits)
    scale, offset = rng.uniform(1e-3, 5e-2, o).astype(np.float32), rng.normal(0, 20, o).astype(np.float32)

    def run():
        bitserial.bitserial_conv2d(xcol, wk, scale, offset, relu=True)
        bitserial.grouped_conv2d_int(q, signs, strides=(1, 1), padding=1, dilation=(1, 1), groups=1)

    return run


def int8_case(rng):
    xq = rng.integers(0, 256, (1, 512, 14, 14)).astype(np.uint8)
    wq = rng.integers(-127, 128, (128, 128, 1, 1)).astype(np.int8)
    scale, offset = rng.uniform(1e-3, 1e-2, 128).astype(np.float32), rng.uniform(-300, 300, 128).astype(np.float32)
    return lambda: int8.int8_conv2d(xq, wq, scale, offset, groups=4)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median exceeds its budget")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    cases = {"bitserial_twin_and_brute_force": bitserial_case(rng), "int8_twin": int8_case(rng)}
    results = {name: median_seconds(fn, args.runs, warmup=1) for name, fn in cases.items()}
    over = [name for name, secs in results.items() if secs > BUDGET_SECS[name]]
    if args.json:
        print(json.dumps({"median_secs": results, "budget_secs": BUDGET_SECS, "over_budget": over}))
    else:
        for name, secs in results.items():
            print(f"{name:32} {secs * 1e3:8.1f} ms (budget {BUDGET_SECS[name] * 1e3:.0f} ms)")
    if args.check and over:
        sys.exit(1)
    return results


if __name__ == "__main__":
    main()
