"""Schedules for the ops that stock Relax legalization emits (elementwise, pooling, reductions)."""
