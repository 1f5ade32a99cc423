"""Gaussian and alpha dropout: functional ops, modules, and parity with torch."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator
from dropout_theory.functional.alpha import ALPHA_PRIME

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


# ---------------------------------------------------------------- Gaussian dropout
def test_gaussian_noise_is_one_plus_sqrt_alpha_times_normal() -> None:
    # Oracle: torch.randn from the same generator state, scaled by sqrt(p/(1-p)).
    p = 0.3
    x = torch.linspace(0.5, 2.0, 50, dtype=torch.float64)
    y = F.gaussian_dropout(x, p, generator=seeded_generator(1))
    eps = torch.randn(50, generator=seeded_generator(1), dtype=torch.float64)
    torch.testing.assert_close(y, x * (1 + math.sqrt(p / (1 - p)) * eps))


def test_gaussian_eval_and_p0_return_input() -> None:
    x = torch.randn(4, 5)
    assert F.gaussian_dropout(x, 0.4, training=False) is x
    assert F.gaussian_dropout(x, 0.0) is x


def test_gaussian_p1_raises_with_value() -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1.0"):
        F.gaussian_dropout(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"got 1.0"):
        dnn.GaussianDropout(1.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_gaussian_invalid_p(bad: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        F.gaussian_dropout(torch.ones(3), bad)
    with pytest.raises(ValueError, match="p must be in"):
        dnn.GaussianDropout(bad)


def test_gaussian_rejects_integer_tensor_and_bad_generator() -> None:
    with pytest.raises(TypeError, match="floating dtype"):
        F.gaussian_dropout(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="generator"):
        F.gaussian_dropout(torch.ones(3), 0.5, generator=123)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", FLOATS)
def test_gaussian_preserves_dtype_shape_and_input(dtype: torch.dtype) -> None:
    x = torch.ones(3, 4, dtype=dtype)
    before = x.clone()
    y = F.gaussian_dropout(x, 0.5, generator=seeded_generator(2))
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.equal(x, before)
    assert not torch.equal(y, x)


def test_gaussian_inplace_and_reproducible() -> None:
    x = torch.ones(100)
    y = F.gaussian_dropout(x, 0.5, inplace=True, generator=seeded_generator(3))
    assert y.data_ptr() == x.data_ptr()
    assert torch.equal(F.gaussian_dropout(torch.ones(100), 0.5, generator=seeded_generator(3)), y)


def test_gaussian_module_train_eval() -> None:
    m = dnn.GaussianDropout(0.2, generator=seeded_generator(4))
    x = torch.ones(10)
    assert not torch.equal(m(x), x)
    m.eval()
    assert m(x) is x
    assert "p=0.2" in repr(m)


def test_local_reparameterisation_matches_formula_for_same_noise() -> None:
    g = seeded_generator(5)
    x = torch.randn(7, 4, generator=g, dtype=torch.float64)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    var = torch.rand(3, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    out = F.local_reparameterised_linear(x, mu, var, b, generator=seeded_generator(6))
    eps = torch.randn(7, 3, generator=seeded_generator(6), dtype=torch.float64)
    expected = x @ mu.T + b + torch.sqrt((x * x) @ var.T) * eps
    torch.testing.assert_close(out, expected)


def test_weight_sampled_linear_zero_variance_is_linear() -> None:
    g = seeded_generator(7)
    x = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    out = F.weight_sampled_linear(x, mu, torch.zeros(3, 4, dtype=torch.float64), chunk_size=3, generator=g)
    torch.testing.assert_close(out, torch.nn.functional.linear(x, mu))


def test_linear_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 4\)"):
        F.local_reparameterised_linear(torch.ones(2, 5), torch.ones(3, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="non-negative"):
        F.local_reparameterised_linear(torch.ones(2, 4), torch.ones(3, 4), -torch.ones(3, 4))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.gaussian_dropout_linear(torch.ones(2, 4), torch.ones(3, 4), torch.ones(2), 0.5)


def test_gaussian_dropout_linear_eval_is_linear() -> None:
    x, w, b = torch.randn(2, 4), torch.randn(3, 4), torch.randn(3)
    torch.testing.assert_close(F.gaussian_dropout_linear(x, w, b, 0.5, training=False), torch.nn.functional.linear(x, w, b))


# ---------------------------------------------------------------- alpha dropout
def _torch_alpha(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.functional.alpha_dropout(x, p, True)


@settings(max_examples=25, deadline=None)
@given(p=st.floats(0.01, 0.99), seed=st.integers(0, 10_000), n=st.integers(1, 200))
def test_alpha_matches_torch_for_same_mask(p: float, seed: int, n: int) -> None:
    x = 1.0 + torch.rand(n, generator=seeded_generator(seed), dtype=torch.float64)
    out = _torch_alpha(x, p, seed)
    mask = (out > 0).double()
    torch.testing.assert_close(F.apply_alpha_dropout_mask(x, mask, p), out, rtol=0, atol=1e-12)


def test_alpha_constants_against_paper_formula() -> None:
    for p in (0.05, 0.1, 0.5, 0.9):
        q = 1 - p
        a = (q + ALPHA_PRIME**2 * q * p) ** -0.5
        assert F.alpha_dropout_affine(p) == pytest.approx((a, -a * p * ALPHA_PRIME), rel=1e-14)


def test_alpha_output_values_are_kept_or_dropped_constant() -> None:
    p = 0.25
    x = torch.randn(1000, generator=seeded_generator(8), dtype=torch.float64)
    y = F.alpha_dropout(x, p, generator=seeded_generator(9))
    a, b = F.alpha_dropout_affine(p)
    keep = F.bernoulli_mask((1000,), 1 - p, generator=seeded_generator(9), dtype=torch.float64)
    torch.testing.assert_close(y, torch.where(keep > 0, a * x + b, torch.full_like(x, a * ALPHA_PRIME + b)))


def test_alpha_eval_p0_identity_p1_zeros() -> None:
    x = torch.randn(5)
    assert F.alpha_dropout(x, 0.3, training=False) is x
    assert F.alpha_dropout(x, 0.0) is x
    assert torch.equal(F.alpha_dropout(x, 1.0), torch.zeros(5))
    assert torch.equal(F.alpha_dropout(x, 1.0), torch.nn.functional.alpha_dropout(x, 1.0, True))
    assert torch.equal(F.alpha_dropout(x, 1.0, mean=2.0, variance=3.0), torch.full((5,), 2.0))


def test_alpha_p1_is_the_limit() -> None:
    # the dropped value a*alpha' + b tends to the preserved mean as p -> 1
    for mean, variance in ((0.0, 1.0), (1.5, 2.0)):
        a, b = F.alpha_dropout_affine(1 - 1e-12, mean, variance)
        assert abs(a * ALPHA_PRIME + b - mean) < 1e-4


def test_alpha_validation() -> None:
    with pytest.raises(ValueError, match="got 1.2"):
        F.alpha_dropout(torch.ones(2), 1.2)
    with pytest.raises(ValueError, match="variance must be positive"):
        F.alpha_dropout(torch.ones(2), 0.2, variance=0.0)
    with pytest.raises(ValueError, match="variance must be positive"):
        dnn.AlphaDropout(0.2, variance=-1.0)
    with pytest.raises(TypeError, match="floating dtype"):
        F.alpha_dropout(torch.ones(2, dtype=torch.int32), 0.2)
    with pytest.raises(TypeError, match="training must be a bool"):
        F.alpha_dropout(torch.ones(2), 0.2, training=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", FLOATS)
def test_alpha_dtype_inplace_and_no_mutation(dtype: torch.dtype) -> None:
    x = torch.randn(64, generator=seeded_generator(10)).to(dtype)
    before = x.clone()
    y = F.alpha_dropout(x, 0.3, generator=seeded_generator(11))
    assert y.dtype == dtype and torch.equal(x, before)
    z = F.alpha_dropout(x, 0.3, inplace=True, generator=seeded_generator(11))
    assert z.data_ptr() == x.data_ptr() and torch.equal(z, y)


def test_alpha_module() -> None:
    m = dnn.AlphaDropout(0.1, generator=seeded_generator(12))
    x = torch.randn(10, 4)
    assert m(x).shape == x.shape
    m.eval()
    assert m(x) is x


@pytest.mark.gpu
def test_gaussian_and_alpha_on_cuda_match_cpu_with_cpu_generator() -> None:
    x = torch.randn(32, 8, dtype=torch.float64)
    for op in (F.gaussian_dropout, F.alpha_dropout):
        cpu = op(x, 0.3, generator=seeded_generator(13))
        gpu = op(x.cuda(), 0.3, generator=seeded_generator(13))
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu)
