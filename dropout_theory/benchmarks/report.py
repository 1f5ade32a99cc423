"""The shape of a benchmark result, and the table the ``bench`` command prints.

Every bench returns a JSON-ready dict::

    {"name": ..., "description": ..., "device": "cpu", "dtype": "float32",
     "sizes": {...},                      # what was measured, e.g. {"elements": 4194304}
     "timings": {label: Timing.to_dict()}, # median, quartiles, min/max of repeated runs
     "memory_bytes": {label: int},        # peak tensor memory, where measured
     "metrics": [metric(...), ...]}       # the headline numbers, with their targets

A bench written elsewhere (the ensemble and MC benches) may return any JSON-ready dict; the
table shows its ``metrics`` if it has them, and its scalar entries otherwise.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable
from pathlib import Path

COMPARISONS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def metric(name: str, value: float, unit: str, target: tuple[str, float] | None = None, note: str = "") -> dict:
    """One headline number; ``target = ("<=", 0.6)`` records the goal and whether it was met."""
    record: dict = {"metric": name, "value": float(value), "unit": unit}
    if target is not None:
        comparison, bound = target
        if comparison not in COMPARISONS:
            raise ValueError(f"target comparison must be one of {sorted(COMPARISONS)}, got {comparison!r}")
        record["target"] = f"{comparison} {bound:g}"
        record["met"] = bool(COMPARISONS[comparison](value, bound))
    if note:
        record["note"] = note
    return record


def format_value(value: object, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    if unit == "s":
        return f"{value * 1e3:.2f} ms"
    if unit == "x":
        return f"{value:.3f}x"
    return f"{value:.4g} {unit}".rstrip()


def rows_for(name: str, result: dict) -> Iterable[tuple[str, str, str, str, str]]:
    if "skipped" in result:
        yield name, f"skipped: {result['skipped']}", "", "", ""
        return
    metrics = result.get("metrics")
    if isinstance(metrics, list) and all(isinstance(m, dict) and "metric" in m for m in metrics):
        for m in metrics:
            met = "" if "met" not in m else ("met" if m["met"] else "MISSED")
            yield name, m["metric"], format_value(m["value"], m.get("unit", "")), m.get("target", ""), met
        return
    for key, value in result.items():
        if isinstance(value, (int, float, str, bool)) and key not in ("name", "description"):
            yield name, key, format_value(value), "", ""


def format_table(results: dict[str, dict]) -> str:
    """A plain-text table: bench, metric, value, target, met/MISSED."""
    header = ("bench", "metric", "value", "target", "")
    rows = [header, *(row for name, result in results.items() for row in rows_for(name, result))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def committed_results_path(device_type: str = "cpu") -> Path:
    """``results/bench-<device>.json`` of this checkout, the file the performance chapter shows."""
    from dropout_theory.experiments.store import default_results_dir

    return default_results_dir() / f"bench-{device_type}.json"


def load_results(device_type: str = "cpu") -> dict | None:
    """The committed benchmark report for ``device_type``, or None if none was committed."""
    path = committed_results_path(device_type)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
