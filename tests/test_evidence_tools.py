"""The evidence machinery itself: Monte Carlo checks, sympy expectations, mask enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp
import torch
from scipy import stats

from dropout_theory.enumeration import (
    MAX_ENUMERATED_UNITS,
    all_masks,
    expectation_over_masks,
    iter_mask_chunks,
    mask_probabilities,
)
from dropout_theory.montecarlo import Estimate, check_estimate, check_mean, check_variance, estimate_variance
from dropout_theory.symbolic import bernoulli_expectation, enumerated_expectation, gates, keep_probabilities


def test_mc_check_accepts_truth_and_rejects_a_shift_of_ten_standard_errors() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=100_000)
    assert check_mean(x, 1.0).holds
    assert not check_mean(x, 1.0 + 10 * 2.0 / np.sqrt(len(x))).holds


def test_mc_false_alarm_rate_is_calibrated() -> None:
    # With a loose budget (5%) the check must reject a true mean about 5% of the time:
    # 2,000 repetitions, rejections ~ Binomial(2000, 0.05); accept within its 1e-6 band.
    rng = np.random.default_rng(1)
    rejections = sum(not check_mean(rng.exponential(size=400), 1.0, false_alarm=0.05).holds for _ in range(2000))
    lo, hi = stats.binom.ppf([5e-7, 1 - 5e-7], 2000, 0.05)
    assert lo <= rejections <= hi, rejections


def test_variance_standard_error_matches_the_spread_of_repeated_estimates() -> None:
    rng = np.random.default_rng(2)
    estimates = [estimate_variance(rng.normal(size=2000)) for _ in range(400)]
    spread = np.std([e.value for e in estimates], ddof=1)
    mean_se = np.mean([e.stderr for e in estimates])
    assert abs(mean_se / spread - 1) < 0.15  # se of an s.d. from 400 repeats is ~3.5%
    assert check_variance(rng.normal(0, 3, size=200_000), 9.0).holds


def test_array_checks_split_the_budget_and_report_the_worst_component() -> None:
    e = check_estimate(Estimate(np.array([0.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.01]), 100), [0.0, 0.0, 0.0])
    assert not e.holds and e.estimate == 1.0 and "worst of 3" in e.detail
    zero_se = check_estimate(Estimate(np.array(2.0), np.array(0.0), 10), 2.0)
    assert zero_se.holds


def test_symbolic_expectations_agree_with_each_other_and_with_brute_force() -> None:
    g = gates("d", 3)
    qs = keep_probabilities("q", 3)
    w = sp.symbols("w1:4")
    expr = (1 - sum(gi * wi for gi, wi in zip(g, w))) ** 2
    algebraic = bernoulli_expectation(expr, g, qs)
    enumerated = sp.expand(enumerated_expectation(expr, g, qs))
    assert sp.expand(algebraic - enumerated) == 0
    values = {**dict(zip(qs, (0.2, 0.5, 0.9))), **dict(zip(w, (1.0, -2.0, 0.5)))}
    brute = 0.0
    for bits in itertools.product((0, 1), repeat=3):
        prob = np.prod([v if b else 1 - v for b, v in zip(bits, (0.2, 0.5, 0.9))])
        brute += prob * (1 - sum(b * wv for b, wv in zip(bits, (1.0, -2.0, 0.5)))) ** 2
    assert abs(float(algebraic.subs(values)) - brute) < 1e-12
    with pytest.raises(ValueError, match="polynomial"):
        bernoulli_expectation(sp.exp(g[0]), g, qs)


def test_masks_enumerate_every_pattern_once_with_probabilities_summing_to_one() -> None:
    masks = all_masks(5)
    assert masks.shape == (32, 5) and masks.dtype == torch.float64
    assert len({tuple(row.tolist()) for row in masks}) == 32
    probs = mask_probabilities(masks, 0.3)
    assert abs(probs.sum().item() - 1) < 1e-15
    assert abs(probs[masks.sum(1) == 5].item() - 0.3**5) < 1e-18
    per_unit = mask_probabilities(masks, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5], dtype=torch.float64))
    assert abs(per_unit[0].item() - 0.9 * 0.8 * 0.7 * 0.6 * 0.5) < 1e-15


def test_chunked_expectation_is_chunk_invariant_and_exact() -> None:
    w = torch.linspace(-1, 1, 9, dtype=torch.float64)
    f = lambda m: (m @ w) ** 2  # noqa: E731
    a = expectation_over_masks(f, 9, 0.6, chunk=512)
    b = expectation_over_masks(f, 9, 0.6, chunk=7)
    exact = (0.6 * w.sum()) ** 2 + 0.6 * 0.4 * (w**2).sum()  # mean^2 + variance
    assert abs(a.item() - exact.item()) < 1e-12 and abs(a.item() - b.item()) < 1e-12
    assert sum(len(c) for c in iter_mask_chunks(9, 100)) == 512


def test_enumeration_limits_are_clear() -> None:
    with pytest.raises(ValueError, match=f"limited to d <= {MAX_ENUMERATED_UNITS}"):
        all_masks(MAX_ENUMERATED_UNITS + 1)
    with pytest.raises(ValueError, match="non-negative integer, got -1"):
        all_masks(-1)
    with pytest.raises(ValueError, match="keep must be in"):
        mask_probabilities(all_masks(2), 1.2)
