"""Fast dropout: moments of the dropped-out sum, the Gaussian-sigmoid integral and its probit approximation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory.claims.fast_dropout import sigmoid_normal_mean_quad
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities


@pytest.mark.parametrize("inverted", [False, True])
def test_moments_against_enumeration(inverted: bool) -> None:
    d = 10
    g = seeded_generator(1)
    x = torch.randn(2, d, generator=g, dtype=torch.float64)
    w = torch.randn(3, d, generator=g, dtype=torch.float64)
    p = torch.linspace(0.1, 0.7, d, dtype=torch.float64)
    masks = all_masks(d)
    probs = mask_probabilities(masks, 1 - p)
    gates = masks / (1 - p) if inverted else masks
    sums = torch.einsum("md,bd,od->mbo", gates, x, w)
    mean = torch.einsum("m,mbo->bo", probs, sums)
    var = torch.einsum("m,mbo->bo", probs, (sums - mean) ** 2)
    got_mean, got_var = F.dropped_sum_moments(x, w, p, inverted=inverted)
    torch.testing.assert_close(got_mean, mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(got_var, var, rtol=0, atol=1e-12)


def test_moments_errors() -> None:
    x, w = torch.ones(4), torch.ones(2, 4)
    with pytest.raises(ValueError, match="got 1.5"):
        F.dropped_sum_moments(x, w, 1.5)
    with pytest.raises(ValueError, match=r"per-input p must have shape \(4,\)"):
        F.dropped_sum_moments(x, w, torch.full((3,), 0.5))
    with pytest.raises(ValueError, match="every p must be in"):
        F.dropped_sum_moments(x, w, torch.tensor([0.1, 0.2, 1.2, 0.3]))
    with pytest.raises(ValueError, match="inverted moments need every p < 1"):
        F.dropped_sum_moments(x, w, 1.0, inverted=True)


@settings(max_examples=20, deadline=None)
@given(mu=st.floats(-10, 10), s=st.floats(0.0, 20.0))
def test_gaussian_sigmoid_mean_against_adaptive_quadrature(mu: float, s: float) -> None:
    got = F.gaussian_sigmoid_mean(torch.tensor(mu, dtype=torch.float64), torch.tensor(s * s, dtype=torch.float64)).item()
    assert abs(got - sigmoid_normal_mean_quad(mu, s)) <= 1e-10


def test_gaussian_sigmoid_mean_limits_and_symmetry() -> None:
    mu = torch.linspace(-3, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(F.gaussian_sigmoid_mean(mu, torch.zeros_like(mu)), torch.sigmoid(mu))
    var = torch.full_like(mu, 2.5)
    torch.testing.assert_close(F.gaussian_sigmoid_mean(-mu, var), 1 - F.gaussian_sigmoid_mean(mu, var))
    with pytest.raises(ValueError, match="variance must be non-negative"):
        F.gaussian_sigmoid_mean(mu, -var)


def test_probit_approximation_formula() -> None:
    mu, var = torch.tensor([0.7, -1.0]), torch.tensor([1.69, 4.0])
    torch.testing.assert_close(F.probit_sigmoid_mean(mu, var), torch.sigmoid(mu / torch.sqrt(1 + math.pi * var / 8)))
    torch.testing.assert_close(F.probit_sigmoid_mean(mu, torch.zeros(2)), torch.sigmoid(mu))


def test_fast_dropout_logistic() -> None:
    g = seeded_generator(2)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64)
    w = torch.randn(2, 6, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(F.fast_dropout_logistic(x, w, b, 0.0), torch.sigmoid(torch.nn.functional.linear(x, w, b)))
    p = 0.4
    mean = torch.nn.functional.linear(x, w, b)
    var = (p / (1 - p)) * torch.nn.functional.linear(x * x, w * w)
    torch.testing.assert_close(F.fast_dropout_logistic(x, w, b, p), torch.sigmoid(mean / torch.sqrt(1 + math.pi * var / 8)))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.fast_dropout_logistic(x, w, torch.ones(3, dtype=torch.float64), p)
