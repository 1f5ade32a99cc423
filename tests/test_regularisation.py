"""Unit tests of dropout_theory.regularisation against independent oracles.

Oracles: brute-force sums over masks written here in numpy/itertools, torch autograd,
numpy/scipy least squares, finite differences, and seeded Monte Carlo with tolerances
from montecarlo.py. Examples use asymmetric keep probabilities, so that a swapped p/1-p
or a missing factor ½ fails.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import optimize

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.montecarlo import check_mean
from dropout_theory.regularisation import (
    GAUSSIAN,
    LOGISTIC,
    column_norms_squared,
    dropout_gradient_descent,
    dropout_least_squares_loss,
    dropout_least_squares_solution,
    dropout_penalty,
    ensemble_error,
    enumerate_dropout_error,
    enumerate_dropout_least_squares,
    equivalent_ridge_lambda,
    expected_dropout_error,
    expected_dropout_gradient,
    gaussian_input_noise_loss,
    glm_dropout_penalty,
    glm_expected_loss,
    glm_loss,
    glm_penalty_small_drop_slope,
    glm_quadratic_penalty,
    gradient_noise_covariance,
    inverted_dropout_penalty,
    multiplicative_gaussian_noise_loss,
    ridge_solution,
)

RTOL = 1e-12


def _masks(d: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=d)))


def _probabilities(masks: np.ndarray, keep: np.ndarray | float) -> np.ndarray:
    return np.prod(np.where(masks > 0, keep, 1.0 - np.asarray(keep)), axis=1)


@pytest.fixture
def unit() -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=5), rng.normal(size=5), 0.7, np.array([0.9, 0.15, 0.6, 0.3, 0.75])


def _brute_unit(w: np.ndarray, inputs: np.ndarray, t: float, keep: np.ndarray) -> tuple[float, np.ndarray]:
    masks = _masks(len(w))
    P = _probabilities(masks, keep)
    residual = t - masks @ (w * inputs)
    return float(P @ (0.5 * residual**2)), (P * -residual) @ (masks * inputs)


# --- Baldi & Sadowski's linear unit -------------------------------------------------------


def test_expected_error_and_gradient_match_brute_force(unit) -> None:
    w, inputs, t, keep = unit
    error, grad = _brute_unit(w, inputs, t, keep)
    args = (torch.from_numpy(w), torch.from_numpy(inputs), t, torch.from_numpy(keep))
    assert float(expected_dropout_error(*args)) == pytest.approx(error, rel=RTOL)
    np.testing.assert_allclose(expected_dropout_gradient(*args).numpy(), grad, rtol=1e-11, atol=1e-14)
    enum_error, enum_grad = enumerate_dropout_error(*args, chunk=7)  # odd chunk: exercises chunking
    assert float(enum_error) == pytest.approx(error, rel=RTOL)
    np.testing.assert_allclose(enum_grad.numpy(), grad, rtol=1e-11, atol=1e-14)


def test_penalty_is_half_the_variance_and_keep_is_not_drop(unit) -> None:
    w, inputs, t, keep = unit
    masks = _masks(len(w))
    P = _probabilities(masks, keep)
    outputs = masks @ (w * inputs)
    variance = P @ outputs**2 - (P @ outputs) ** 2
    args = (torch.from_numpy(w), torch.from_numpy(inputs))
    assert float(dropout_penalty(*args, torch.from_numpy(keep))) == pytest.approx(0.5 * variance, rel=RTOL)
    # Passing drop probabilities instead of keep probabilities must change the expected error.
    swapped = float(expected_dropout_error(*args, t, torch.from_numpy(1 - keep)))
    assert abs(swapped - _brute_unit(w, inputs, t, keep)[0]) > 1e-3


def test_expected_gradient_is_autograd_of_the_mask_average(unit) -> None:
    w, inputs, t, keep = unit
    masks = torch.from_numpy(_masks(len(w)))
    P = torch.from_numpy(_probabilities(masks.numpy(), keep))
    weights = torch.from_numpy(w).requires_grad_(True)
    average = P @ (0.5 * (t - masks @ (weights * torch.from_numpy(inputs))) ** 2)
    (grad,) = torch.autograd.grad(average, weights)
    np.testing.assert_allclose(expected_dropout_gradient(torch.from_numpy(w), torch.from_numpy(inputs), t, torch.from_numpy(keep)).numpy(),
                               grad.numpy(), rtol=1e-11, atol=1e-14)


def test_ensemble_error_scales_by_keep() -> None:
    w, inputs = torch.tensor([2.0, 1.0]), torch.tensor([1.0, 3.0])
    assert float(ensemble_error(w, inputs, 1.0, torch.tensor([0.25, 0.5]))) == pytest.approx(0.5 * (1 - (0.5 + 1.5)) ** 2)


def test_inverted_penalty_reparametrises(unit) -> None:
    w, inputs, _, keep = unit
    w_t, inputs_t, keep_t = torch.from_numpy(w), torch.from_numpy(inputs), torch.from_numpy(keep)
    assert float(inverted_dropout_penalty(keep_t * w_t, inputs_t, keep_t)) == pytest.approx(float(dropout_penalty(w_t, inputs_t, keep_t)), rel=RTOL)
    with pytest.raises(ValueError, match="keep must be in \\(0, 1\\]"):
        inverted_dropout_penalty(w_t, inputs_t, 0.0)


@pytest.mark.parametrize(
    ("w", "inputs", "keep", "message"),
    [
        (torch.ones(3), torch.ones(2), 0.5, "w and inputs must be 1-D of equal length"),
        (torch.ones(3), torch.ones(3), 1.5, "keep must be in \\[0, 1\\], got 1.5"),
        (torch.ones(3), torch.ones(3), torch.ones(2), "keep must be a scalar or have the shape"),
        (torch.tensor([1.0, float("nan")]), torch.ones(2), 0.5, "w must be finite"),
    ],
)
def test_linear_unit_rejects_bad_input(w, inputs, keep, message) -> None:
    with pytest.raises(ValueError, match=message):
        expected_dropout_error(w, inputs, 0.0, keep)


# --- Wager et al.'s GLM penalty -----------------------------------------------------------


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def _brute_glm_terms(beta: np.ndarray, X: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Noisy predictors u[i, m] and mask probabilities, by itertools."""
    masks = _masks(X.shape[1])
    return (X[:, None, :] * masks[None] / (1 - delta)) @ beta, _probabilities(masks, 1 - delta)


@pytest.fixture
def glm_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 4))
    beta = rng.normal(size=4)
    return X, beta, (rng.random(5) < 0.5).astype(float)


def test_glm_penalty_matches_brute_force(glm_data) -> None:
    X, beta, _ = glm_data
    u, P = _brute_glm_terms(beta, X, 0.3)
    R = float((_softplus(u) @ P - _softplus(X @ beta)).sum())
    assert float(glm_dropout_penalty(torch.from_numpy(beta), torch.from_numpy(X), 0.3, chunk=3)) == pytest.approx(R, rel=RTOL)


def test_glm_expected_loss_is_loss_plus_penalty_for_any_labels(glm_data) -> None:
    X, beta, y = glm_data
    u, P = _brute_glm_terms(beta, X, 0.4)
    for labels in (y, 1 - y, np.full(5, 0.3)):
        expected = float(((-labels[:, None] * u + _softplus(u)) @ P).sum())
        Xt, bt, lt = torch.from_numpy(X), torch.from_numpy(beta), torch.from_numpy(labels)
        assert float(glm_expected_loss(bt, Xt, lt, 0.4)) == pytest.approx(expected, rel=RTOL)
        assert float(glm_loss(bt, Xt, lt) + glm_dropout_penalty(bt, Xt, 0.4)) == pytest.approx(expected, rel=1e-11)


def test_glm_quadratic_penalty_uses_curvature_and_variance(glm_data) -> None:
    X, beta, _ = glm_data
    delta, h = 0.25, 1e-4
    u = X @ beta
    curvature = (_softplus(u + h) - 2 * _softplus(u) + _softplus(u - h)) / h**2  # finite differences, not sigmoid
    noisy, P = _brute_glm_terms(beta, X, delta)
    variance = noisy**2 @ P - (noisy @ P) ** 2
    oracle = 0.5 * float((curvature * variance).sum())
    assert float(glm_quadratic_penalty(torch.from_numpy(beta), torch.from_numpy(X), delta)) == pytest.approx(oracle, rel=1e-6)


def test_gaussian_glm_penalty_is_exactly_quadratic(glm_data) -> None:
    X, beta, _ = glm_data
    noisy, P = _brute_glm_terms(beta, X, 0.6)
    R = float((0.5 * noisy**2 @ P - 0.5 * (X @ beta) ** 2).sum())
    bt, Xt = torch.from_numpy(beta), torch.from_numpy(X)
    assert float(glm_dropout_penalty(bt, Xt, 0.6, GAUSSIAN)) == pytest.approx(R, rel=1e-11)
    assert float(glm_quadratic_penalty(bt, Xt, 0.6, GAUSSIAN)) == pytest.approx(R, rel=1e-11)


def test_small_drop_slope_is_the_derivative_at_zero(glm_data) -> None:
    X, beta, _ = glm_data
    delta = 1e-7
    u, P = _brute_glm_terms(beta, X, delta)
    finite_difference = float((_softplus(u) @ P - _softplus(X @ beta)).sum()) / delta
    slope = float(glm_penalty_small_drop_slope(torch.from_numpy(beta), torch.from_numpy(X), LOGISTIC))
    assert slope == pytest.approx(finite_difference, rel=1e-5)


def test_glm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="p must be in \\[0, 1\\), got 1.0"):
        glm_dropout_penalty(torch.ones(2), torch.ones(3, 2), 1.0)
    with pytest.raises(ValueError, match="X must be \\(N, d\\) and beta \\(d,\\)"):
        glm_quadratic_penalty(torch.ones(3), torch.ones(3, 2), 0.5)


# --- Least squares ------------------------------------------------------------------------


@pytest.fixture
def ls_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2, 3)) * np.array([0.5, 1.0, 3.0])
    return X, rng.normal(size=2), rng.normal(size=3)


def _brute_ls(w: np.ndarray, X: np.ndarray, y: np.ndarray, p: float, inverted: bool) -> float:
    q = 1 - p
    N, D = X.shape
    masks = _masks(N * D)
    P = _probabilities(masks, q)
    noisy = masks.reshape(-1, N, D) * X / (q if inverted else 1.0)
    return float(P @ ((y - noisy @ w) ** 2).sum(1))


@pytest.mark.parametrize("inverted", [False, True])
def test_least_squares_loss_matches_brute_force(ls_data, inverted) -> None:
    X, y, w = ls_data
    oracle = _brute_ls(w, X, y, 0.3, inverted)
    Xt, yt, wt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(w)
    assert float(dropout_least_squares_loss(wt, Xt, yt, 0.3, inverted=inverted)) == pytest.approx(oracle, rel=RTOL)
    assert float(enumerate_dropout_least_squares(wt, Xt, yt, 0.3, inverted=inverted, chunk=5)) == pytest.approx(oracle, rel=RTOL)


def test_enumeration_at_twenty_mask_bits() -> None:
    g = seeded_generator(3, "cpu")
    X, y, w = (torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64),
               torch.randn(4, generator=g, dtype=torch.float64))
    assert float(enumerate_dropout_least_squares(w, X, y, 0.2)) == pytest.approx(float(dropout_least_squares_loss(w, X, y, 0.2)), rel=RTOL)


def test_solution_matches_augmented_least_squares_and_minimises_brute_force(ls_data) -> None:
    X, y, _ = ls_data
    p, q = 0.35, 0.65
    augmented = np.vstack([X, np.diag(np.sqrt((1 - q) / q * (X**2).sum(0)))])
    oracle = np.linalg.lstsq(augmented, np.concatenate([y, np.zeros(3)]), rcond=None)[0]
    w_tilde = dropout_least_squares_solution(torch.from_numpy(X), torch.from_numpy(y), p).numpy()
    np.testing.assert_allclose(w_tilde, oracle, rtol=1e-10)
    found = optimize.minimize(lambda w: _brute_ls(w, X, y, p, inverted=False), np.zeros(3), method="BFGS", options={"gtol": 1e-12}).x
    raw = dropout_least_squares_solution(torch.from_numpy(X), torch.from_numpy(y), p, inverted=False).numpy()
    np.testing.assert_allclose(raw, found, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(raw, w_tilde / q, rtol=1e-12)


def test_ridge_and_its_equivalent_lambda() -> None:
    g = seeded_generator(4, "cpu")
    X = torch.randn(20, 3, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    Xn, yn = X.numpy(), y.numpy()
    np.testing.assert_allclose(ridge_solution(X, y, 2.5).numpy(), np.linalg.solve(Xn.T @ Xn + 2.5 * np.eye(3), Xn.T @ yn), rtol=1e-12)
    with pytest.raises(ValueError, match="different squared norms"):
        equivalent_ridge_lambda(X, 0.3)
    standardised = (X - X.mean(0)) / (X - X.mean(0)).norm(dim=0) * math.sqrt(20)
    np.testing.assert_allclose(column_norms_squared(standardised).numpy(), 20.0, rtol=1e-12)
    assert equivalent_ridge_lambda(standardised, 0.3) == pytest.approx(20 * 0.3 / 0.7, rel=1e-12)


def test_multiplicative_gaussian_equals_inverted_bernoulli(ls_data) -> None:
    X, y, w = ls_data
    p = 0.45
    value = float(multiplicative_gaussian_noise_loss(torch.from_numpy(w), torch.from_numpy(X), torch.from_numpy(y), p / (1 - p)))
    assert value == pytest.approx(_brute_ls(w, X, y, p, inverted=True), rel=RTOL)


def test_gaussian_input_noise_by_monte_carlo(ls_data) -> None:
    X, y, w = (torch.from_numpy(a) for a in ls_data)
    sigma = 0.8
    noise = sigma * torch.randn(200_000, *X.shape, generator=seeded_generator(5, "cpu"), dtype=torch.float64)
    losses = ((y - (X + noise) @ w) ** 2).sum(1)
    evidence = check_mean(losses, gaussian_input_noise_loss(w, X, y, sigma))
    assert evidence.holds, evidence


def test_least_squares_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="X must be \\(N, D\\) and y \\(N,\\)"):
        dropout_least_squares_loss(torch.ones(2), torch.ones(3, 2), torch.ones(2), 0.5)
    with pytest.raises(ValueError, match="w must have shape \\(2,\\)"):
        dropout_least_squares_loss(torch.ones(3), torch.ones(3, 2), torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="too many to enumerate"):
        enumerate_dropout_least_squares(torch.ones(4), torch.ones(8, 4), torch.ones(8), 0.5)
    with pytest.raises(ValueError, match="p must be in \\[0, 1\\), got 1.0"):
        dropout_least_squares_solution(torch.ones(3, 2), torch.ones(3), 1.0)


# --- Gradient descent with sampled masks --------------------------------------------------


@pytest.fixture
def gd_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = seeded_generator(6, "cpu")
    X = torch.randn(12, 2, generator=g, dtype=torch.float64) * torch.tensor([0.7, 1.5], dtype=torch.float64)
    return X, torch.randn(12, generator=g, dtype=torch.float64)


def test_gradient_descent_is_reproducible_and_leaves_inputs_alone(gd_data) -> None:
    X, y = gd_data
    X_before = X.clone()
    runs = [dropout_gradient_descent(X, y, 0.3, lr=0.01, steps=20, chains=3, generator=seeded_generator(s, "cpu")) for s in (7, 7, 8)]
    assert torch.equal(runs[0].path, runs[1].path)
    assert not torch.equal(runs[0].path, runs[2].path)
    assert torch.equal(X, X_before)
    assert runs[0].path.shape == (21, 3, 2)


def test_gradient_descent_without_dropout_reaches_least_squares(gd_data) -> None:
    X, y = gd_data
    run = dropout_gradient_descent(X, y, 0.0, lr=0.02, steps=3000, burn_in=2999)
    oracle = np.linalg.lstsq(X.numpy(), y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(run.path[-1, 0].numpy(), oracle, rtol=1e-9)


def test_one_step_in_the_mean_follows_the_expected_gradient(gd_data) -> None:
    X, y = gd_data
    p, lr = 0.4, 0.01
    w0 = torch.tensor([0.5, -0.3], dtype=torch.float64)
    run = dropout_gradient_descent(X, y, p, lr=lr, steps=1, chains=100_000, w0=w0, generator=seeded_generator(9, "cpu"))
    w = w0.clone().requires_grad_(True)
    (expected_gradient,) = torch.autograd.grad(dropout_least_squares_loss(w, X, y, p, inverted=True), w)
    evidence = check_mean(run.path[1], w0 - lr * expected_gradient)
    assert evidence.holds, evidence


def test_gradient_noise_covariance_matches_joint_enumeration() -> None:
    g = seeded_generator(10, "cpu")
    X, y, w = (torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64),
               torch.randn(2, generator=g, dtype=torch.float64))
    p, q = 0.3, 0.7
    masks = _masks(6)
    P = _probabilities(masks, q)
    noisy = masks.reshape(-1, 3, 2) * X.numpy() / q
    grads = -2 * np.einsum("mnd,mn->md", noisy, y.numpy() - noisy @ w.numpy())
    mean = P @ grads
    oracle = (P[:, None] * (grads - mean)).T @ (grads - mean)
    np.testing.assert_allclose(gradient_noise_covariance(w, X, y, p).numpy(), oracle, rtol=1e-11, atol=1e-13)


def test_gradient_descent_rejects_bad_input(gd_data) -> None:
    X, y = gd_data
    with pytest.raises(ValueError, match="burn_in must be in \\[0, steps\\)"):
        dropout_gradient_descent(X, y, 0.3, lr=0.1, steps=5, burn_in=5)
    with pytest.raises(ValueError, match="lr must be positive, got 0"):
        dropout_gradient_descent(X, y, 0.3, lr=0, steps=5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        dropout_gradient_descent(X, y, 0.3, lr=0.1, steps=5, generator=1)  # type: ignore[arg-type]


def test_gradient_descent_uses_the_package_dropout(gd_data) -> None:
    """The first step equals one hand-made step with the same generator state and the package's op."""
    X, y = gd_data
    run = dropout_gradient_descent(X, y, 0.3, lr=0.05, steps=1, chains=2, generator=seeded_generator(11, "cpu"))
    noisy = F.dropout(X.expand(2, -1, -1), 0.3, generator=seeded_generator(11, "cpu"))
    step = 0.05 * 2 * torch.einsum("cnd,cn->cd", noisy, y.expand(2, -1))  # from w0 = 0
    torch.testing.assert_close(run.path[1], step, rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
def test_enumerations_agree_on_cuda(unit) -> None:
    w, inputs, t, keep = (torch.as_tensor(a, dtype=torch.float64) for a in unit)
    cpu = enumerate_dropout_error(w, inputs, float(t), keep)
    cuda = enumerate_dropout_error(w.cuda(), inputs.cuda(), float(t), keep.cuda())
    torch.testing.assert_close(cuda[0].cpu(), cpu[0], rtol=1e-12, atol=0)
    torch.testing.assert_close(cuda[1].cpu(), cpu[1], rtol=1e-12, atol=1e-14)
