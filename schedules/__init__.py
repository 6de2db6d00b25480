"""Kernels: one folder per op with its TE compute (the numerics contract), its numpy twin and one
schedule file per target family. See docs/numerics.md."""
