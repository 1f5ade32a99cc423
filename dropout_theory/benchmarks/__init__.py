"""Benchmarks: every speed or memory target is a ratio to a baseline measured in the same run.

Run them with ``python -m dropout_theory bench``; the book's performance chapter shows the
committed results (``results/bench-cpu.json``). Timing and memory tools:
:mod:`~dropout_theory.benchmarks.timing`, :mod:`~dropout_theory.benchmarks.memory`; result
format and table: :mod:`~dropout_theory.benchmarks.report`; the list of benches:
:mod:`~dropout_theory.benchmarks.registry`. Each bench is a plain function returning a
JSON-serialisable dict (median and spread of repeated timings after warm-up).
"""

from dropout_theory.benchmarks.ensemble import bench_exact_ensemble
from dropout_theory.benchmarks.machine import machine_info
from dropout_theory.benchmarks.mc import bench_mc_predict
from dropout_theory.benchmarks.memory import peak_memory
from dropout_theory.benchmarks.registry import BENCHES, Bench, run_bench
from dropout_theory.benchmarks.report import format_table, metric
from dropout_theory.benchmarks.timing import Timing, time_interleaved, time_ratio

__all__ = [
    "BENCHES",
    "Bench",
    "Timing",
    "bench_exact_ensemble",
    "bench_mc_predict",
    "format_table",
    "machine_info",
    "metric",
    "peak_memory",
    "run_bench",
    "time_interleaved",
    "time_ratio",
]
