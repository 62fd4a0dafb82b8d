"""Benchmarks of each stage against its floor and the original (BENCHMARKS.md).

A top-level folder, not part of the shipped packages: setup.py packages only what the jobs need,
so Dataflow workers and `pip install .` never receive benchmark code (tests/test_packaging.py).
"""
