"""Benchmarks: speed and memory measured against a baseline run in the same process (never in tests).

Each benchmark is a plain function returning a JSON-serialisable dict (median and spread of
repeated timings after warm-up); ``python -m dropout_theory bench`` runs them.
"""

from dropout_theory.benchmarks.ensemble import bench_exact_ensemble
from dropout_theory.benchmarks.mc import bench_mc_predict

__all__ = ["bench_exact_ensemble", "bench_mc_predict"]
