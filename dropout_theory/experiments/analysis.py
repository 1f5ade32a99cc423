"""Summaries of cached per-seed results, and the criterion that turns a trend into a claim.

The criterion (stated in the experiments chapter): a trend "A has lower test error than B"
*holds* when, over ``n >= 5`` seeds with paired runs (same seed = same initial weights and
minibatch order), the differences :math:`d_s = e_B(s) - e_A(s)`

1. have mean larger than twice their standard error, :math:`\\bar d > 2\\,\\mathrm{se}(\\bar d)`
   (the margin), and
2. are positive for enough seeds that a one-sided sign test rejects "no trend" at level 0.05
   (5 of 5, 6 of 6, 7 of 8, 8 of 9, 9 of 10, ...).

Both must hold; otherwise the book shows the measurement with its error bars and no claim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from dropout_theory.experiments.protocol import parse_key

MIN_SEEDS = 5
SIGN_LEVEL = 0.05
MARGIN_SE = 2.0


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("values must not be empty")
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return float(arr.mean()), se


@dataclass(frozen=True)
class PairedTrend:
    """The paired comparison "``better`` has lower error than ``worse``" over seeds."""

    better: str
    worse: str
    differences: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return mean_se(self.differences)[0]

    @property
    def se(self) -> float:
        return mean_se(self.differences)[1]

    @property
    def positive(self) -> int:
        return sum(d > 0 for d in self.differences)

    @property
    def sign_p(self) -> float:
        return float(stats.binomtest(self.positive, self.n, 0.5, alternative="greater").pvalue)

    @property
    def holds(self) -> bool:
        return self.n >= MIN_SEEDS and self.mean > MARGIN_SE * self.se and self.sign_p <= SIGN_LEVEL

    def describe(self, unit: str = "percentage points", scale: float = 100.0, *, named: bool = True) -> str:
        names = f"{self.worse} - {self.better}: " if named else ""
        return (
            f"{names}mean {scale * self.mean:+.3f} ± {scale * self.se:.3f} (s.e.) {unit} "
            f"over {self.n} seeds; positive in {self.positive}/{self.n} (sign test p = {self.sign_p:.3g})"
        )


def paired_trend(values: Mapping[str, Mapping[int, float]], better: str, worse: str) -> PairedTrend:
    """Pair ``values[better][seed]`` with ``values[worse][seed]`` over the seeds both have."""
    seeds = sorted(set(values[better]) & set(values[worse]))
    return PairedTrend(better, worse, tuple(values[worse][s] - values[better][s] for s in seeds))


def by_setting(units: Mapping[str, dict], field: str, setting: str = "config") -> dict[str, dict[int, float]]:
    """``{setting value: {seed: units[key][field]}}`` from keys like ``config=dropout/seed=3``.

    Units that diverged (a ``"diverged"`` entry instead of results) are left out; count them
    with :func:`diverged_units`.
    """
    table: dict[str, dict[int, float]] = {}
    for key, value in units.items():
        if "diverged" in value:
            continue
        parts = parse_key(key)
        table.setdefault(parts[setting], {})[int(parts["seed"])] = value[field]
    return table


def diverged_units(units: Mapping[str, dict]) -> list[str]:
    """Keys of the units whose training diverged."""
    return sorted(key for key, value in units.items() if "diverged" in value)


def summary(values: Mapping[str, Mapping[int, float]], scale: float = 1.0) -> dict[str, tuple[float, float, int]]:
    """``{setting: (mean, standard error, number of seeds)}``, values multiplied by ``scale``."""
    return {name: (*mean_se([scale * v for v in per_seed.values()]), len(per_seed)) for name, per_seed in values.items()}
