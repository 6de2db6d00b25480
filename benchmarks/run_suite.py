"""Run the benchmark suite (same as ``tvm-sepnet bench``): python benchmarks/run_suite.py [--quick] [-o DIR]."""
import sys

from tvm_sepnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
