r"""Monte Carlo estimates with standard errors, and tolerances from a false-alarm budget.

A Monte Carlo check accepts when :math:`|\hat\mu - \mu| \le z \cdot \mathrm{SE}`. Under
the normal approximation to the estimator (the central limit theorem, which is the
assumption every check here states), a correct claim is rejected with probability

.. math:: \alpha = P(|Z| > z) = 2(1 - \Phi(z)),

the *false-alarm probability*. We fix :math:`\alpha` (default :math:`10^{-6}` per check)
and derive :math:`z = \Phi^{-1}(1 - \alpha/2) \approx 4.89`; we never pick a tolerance by
looking at the result. A check over :math:`k` quantities at once splits the budget
(Bonferroni, :math:`\alpha/k` each), so the whole check still has false alarm
:math:`\le \alpha`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from dropout_theory.claims.core import Evidence

DEFAULT_FALSE_ALARM = 1e-6


def z_for_false_alarm(false_alarm: float = DEFAULT_FALSE_ALARM, *, comparisons: int = 1) -> float:
    """Two-sided normal quantile: ``P(|Z| > z) = false_alarm / comparisons``."""
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm}")
    if comparisons < 1:
        raise ValueError(f"comparisons must be >= 1, got {comparisons}")
    return float(stats.norm.isf(false_alarm / comparisons / 2.0))


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate (scalar or array) with its standard error and sample size."""

    value: np.ndarray
    stderr: np.ndarray
    samples: int


def _as_numpy(samples: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().to("cpu", torch.float64).numpy()
    return np.asarray(samples, dtype=np.float64)


def estimate_mean(samples: torch.Tensor | np.ndarray) -> Estimate:
    r"""Sample mean over axis 0, SE :math:`= s/\sqrt{n}` with the unbiased sample s.d."""
    x = _as_numpy(samples)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    return Estimate(x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(n), n)


def estimate_variance(samples: torch.Tensor | np.ndarray) -> Estimate:
    r"""Unbiased sample variance over axis 0, with SE :math:`\sqrt{(m_4 - s^4)/n}`.

    :math:`m_4` is the sample fourth central moment; this is the delta-method standard
    error of the sample variance (exact to first order in :math:`1/n`).
    """
    x = _as_numpy(samples)
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"need at least 4 samples, got {n}")
    centred = x - x.mean(axis=0)
    var = (centred**2).sum(axis=0) / (n - 1)
    m4 = (centred**4).mean(axis=0)
    return Estimate(var, np.sqrt(np.maximum(m4 - var**2, 0.0) / n), n)


def check_estimate(
    estimate: Estimate,
    target: float | np.ndarray | torch.Tensor,
    *,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    detail: str = "",
) -> Evidence:
    r"""Evidence that an estimate agrees with ``target`` within :math:`z \cdot \mathrm{SE}`.

    For array estimates every component must agree; the budget is split over the
    components (Bonferroni), and the reported numbers are those of the worst component
    (largest :math:`|\hat\mu - \mu| / \mathrm{SE}`).
    """
    value = np.atleast_1d(estimate.value)
    stderr = np.atleast_1d(estimate.stderr)
    target_arr = np.broadcast_to(np.atleast_1d(_as_numpy(target)), value.shape)
    z = z_for_false_alarm(false_alarm, comparisons=value.size)
    gap = np.abs(value - target_arr)
    # A zero SE (e.g. a constant sample) leaves no room for error: exact agreement required.
    tolerance = z * stderr
    ratio = np.where(stderr > 0, gap / np.where(stderr > 0, stderr, 1.0), np.where(gap > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio))
    holds = bool(np.all(gap <= tolerance))
    where = f" (worst of {value.size} components)" if value.size > 1 else ""
    text = f"{detail}; " if detail else ""
    return Evidence(
        kind="monte-carlo",
        holds=holds,
        detail=f"{text}n={estimate.samples}, z={z:.2f}{where}",
        estimate=float(value.flat[worst]),
        target=float(target_arr.flat[worst]),
        tolerance=float(tolerance.flat[worst]),
        false_alarm=false_alarm,
        samples=estimate.samples,
    )


def check_mean(
    samples: torch.Tensor | np.ndarray,
    target: float | np.ndarray | torch.Tensor,
    *,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    detail: str = "",
) -> Evidence:
    """:func:`check_estimate` of the sample mean over axis 0."""
    return check_estimate(estimate_mean(samples), target, false_alarm=false_alarm, detail=detail)


def check_variance(
    samples: torch.Tensor | np.ndarray,
    target: float | np.ndarray | torch.Tensor,
    *,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    detail: str = "",
) -> Evidence:
    """:func:`check_estimate` of the sample variance over axis 0."""
    return check_estimate(estimate_variance(samples), target, false_alarm=false_alarm, detail=detail)
