"""Benchmarks: peaks of this CPU, per-layer kernels and end-to-end latency, each against its baselines
measured in the same run (``tvm-sepnet bench`` / ``python benchmarks/run_suite.py``)."""
