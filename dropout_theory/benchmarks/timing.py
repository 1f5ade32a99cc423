"""Repeated, interleaved wall-clock timings with warm-up, and ratios measured in the same run.

Candidates and their baselines are timed in *rounds*: each round runs every callable once,
in an order that rotates from round to round. On a shared machine a burst of load then slows
a whole round rather than one contestant, and the per-round ratios stay meaningful. We report
the median (robust to the odd descheduled run) and the interquartile range as the spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from dropout_theory.validation import check_positive_int


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work: CUDA kernels run asynchronously, so a timer must not stop early."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile), by linear interpolation as numpy's default."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q1, q2, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, q2, q3


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one callable over the timed rounds (warm-up excluded)."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return quartiles(list(self.seconds))[1]

    @property
    def iqr(self) -> tuple[float, float]:
        q1, _, q3 = quartiles(list(self.seconds))
        return q1, q3

    def to_dict(self) -> dict:
        q1, median, q3 = quartiles(list(self.seconds))
        return {
            "median_s": median,
            "q1_s": q1,
            "q3_s": q3,
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "repeats": len(self.seconds),
        }


def time_interleaved(
    contestants: Mapping[str, Callable[[], object]],
    *,
    device: torch.device,
    warmup: int = 3,
    repeats: int = 15,
) -> dict[str, Timing]:
    """Time each callable ``repeats`` times after ``warmup`` untimed rounds, interleaved.

    Args:
        contestants: name -> zero-argument callable doing one complete unit of work.
        device: where the work runs; CUDA is synchronised before and after every call.
        warmup: untimed rounds first (allocator warm-up, lazy initialisation, caches).
        repeats: timed rounds.

    Returns:
        name -> :class:`Timing`.
    """
    check_positive_int("repeats", repeats)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    names = list(contestants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            synchronize(device)
            start = time.perf_counter()
            contestants[name]()
            synchronize(device)
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                samples[name].append(elapsed)
    return {name: Timing(tuple(values)) for name, values in samples.items()}


def time_ratio(candidate: Timing, baseline: Timing) -> dict:
    """Ratio of medians, and the spread of the per-round ratios (same-round pairs)."""
    per_round = [c / b for c, b in zip(candidate.seconds, baseline.seconds)]
    q1, median, q3 = quartiles(per_round)
    return {"value": candidate.median / baseline.median, "per_round_median": median, "per_round_q1": q1, "per_round_q3": q3}
