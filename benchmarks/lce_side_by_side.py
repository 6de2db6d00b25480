"""Side by side with Larq Compute Engine (same as ``tvm-sepnet bench --lce``):

    python benchmarks/lce_side_by_side.py quicknet.tflite birealnet.tflite --lce-python /path/to/python [-o DIR]

Write the files with ``python -m tvm_sepnet.models.to_larq quicknet -o quicknet.tflite`` (extra ``[larq]``).
"""
import sys

from tvm_sepnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", "--lce", *sys.argv[1:]]))
