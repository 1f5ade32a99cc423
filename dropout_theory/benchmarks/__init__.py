"""Benchmarks: speed measured against a baseline run in the same process (never in tests).

Each benchmark is a plain function returning a JSON-serialisable dict.
"""

from dropout_theory.benchmarks.ensemble import bench_exact_ensemble

__all__ = ["bench_exact_ensemble"]
