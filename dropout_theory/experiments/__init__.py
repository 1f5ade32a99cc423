"""Experiments whose results the book shows from a cache (``results/<name>-<scale>.json``).

Run one with ``python -m dropout_theory reproduce NAME [--scale smoke|small|paper]``.
"""

from dropout_theory.experiments.registry import EXPERIMENTS, SCALES, Experiment, RunConfig, experiment
from dropout_theory.experiments.store import ResultStore, load_results, results_path

__all__ = ["EXPERIMENTS", "SCALES", "Experiment", "ResultStore", "RunConfig", "experiment", "load_results", "results_path"]
