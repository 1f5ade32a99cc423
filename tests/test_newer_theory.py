"""Closed forms of the newer-theory chapter against independent oracles (numpy, scipy, autograd, torch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from dropout_theory import functional as F
from dropout_theory.batchnorm_shift import (
    dropout_batchnorm_mlp,
    dropout_train_variance,
    recalibrate_batchnorm,
    variance_shift_ratio,
)
from dropout_theory.devices import seeded_generator
from dropout_theory.implicit_bias import (
    equalised_factorisation,
    equalising_rotation,
    exact_hidden_dropout_loss,
    explicit_regulariser,
    induced_regulariser,
    nuclear_norm,
    penalty_weight,
    squared_nuclear_shrinkage,
    train_linear_network,
    unit_norm_products,
    whitened_inputs,
)
from dropout_theory.montecarlo import z_for_false_alarm
from dropout_theory.devices import intra_op_threads

f64 = torch.float64


def brute_force_dropout_loss(U: np.ndarray, V: np.ndarray, X: np.ndarray, Y: np.ndarray, q: float) -> float:
    """Average over the data of E_b ||y - U diag(b/q) V^T x||^2, by looping over every mask in numpy."""
    r = U.shape[1]
    total = 0.0
    for bits in itertools.product((0, 1), repeat=r):
        b = np.array(bits, dtype=float)
        weight = np.prod(np.where(b == 1, q, 1 - q))
        pred = X @ V @ np.diag(b / q) @ U.T
        total += weight * ((Y - pred) ** 2).sum(1).mean()
    return total


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_explicit_regulariser_matches_mask_loop(p: float) -> None:
    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    X = rng.normal(size=(10, 4)) * np.array([2.0, 1.0, 0.3, 0.7])
    Y = rng.normal(size=(10, 3))
    exact = brute_force_dropout_loss(U, V, X, Y, 1 - p)
    plain = ((Y - X @ V @ U.T) ** 2).sum(1).mean()
    C = torch.tensor(X.T @ X / len(X))
    penalty = explicit_regulariser(torch.tensor(U), torch.tensor(V), p, C).item()
    assert exact == pytest.approx(plain + penalty, rel=1e-12)
    as_tensors = [torch.tensor(a) for a in (U, V, X, Y)]
    assert exact_hidden_dropout_loss(*as_tensors, p).item() == pytest.approx(exact, rel=1e-12)
    # The whitened form is the covariance form with C = I, and it differs here.
    whitened = explicit_regulariser(torch.tensor(U), torch.tensor(V), p).item()
    expected_whitened = p / (1 - p) * sum(np.sum(U[:, i] ** 2) * np.sum(V[:, i] ** 2) for i in range(5))
    assert whitened == pytest.approx(expected_whitened, rel=1e-12)
    assert abs(exact - plain - whitened) > 1e-3


def test_whitened_inputs_have_identity_second_moment() -> None:
    X = whitened_inputs(50, 6, generator=seeded_generator(1))
    np.testing.assert_allclose((X.T @ X / 50).numpy(), np.eye(6), atol=1e-12)
    with pytest.raises(ValueError, match="n must be >= d"):
        whitened_inputs(3, 6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=9))
def test_equalising_rotation_is_orthogonal_with_constant_diagonal(values: list[float]) -> None:
    d = torch.tensor(values, dtype=f64)
    Q = equalising_rotation(d)
    np.testing.assert_allclose((Q.T @ Q).numpy(), np.eye(len(values)), atol=1e-12)
    diagonal = (Q.T @ torch.diag(d) @ Q).diagonal().numpy()
    np.testing.assert_allclose(diagonal, np.full(len(values), np.mean(values)), atol=1e-10 * max(1.0, max(values)))


@pytest.mark.parametrize(("d_out", "d_in", "rank", "width"), [(3, 4, 2, 2), (4, 3, 3, 5), (5, 5, 1, 6), (2, 7, 2, 3)])
def test_equalised_factorisation_attains_the_bound(d_out: int, d_in: int, rank: int, width: int) -> None:
    rng = np.random.default_rng(d_out * 10 + width)
    M = rng.normal(size=(d_out, rank)) @ rng.normal(size=(rank, d_in))
    U, V = equalised_factorisation(torch.tensor(M), width)
    np.testing.assert_allclose(U.numpy() @ V.numpy().T, M, atol=1e-12)
    nuclear = np.linalg.svd(M, compute_uv=False).sum()  # numpy's SVD as the oracle
    np.testing.assert_allclose(np.linalg.norm(U.numpy(), axis=0) * np.linalg.norm(V.numpy(), axis=0),
                               nuclear / width, rtol=1e-12)
    assert induced_regulariser(torch.tensor(M), width, 0.5).item() == pytest.approx(nuclear**2 / width, rel=1e-12)


def test_width_below_rank_is_refused() -> None:
    M = torch.eye(3, dtype=f64)
    with pytest.raises(ValueError, match=r"width must be >= rank\(M\) = 3, got 2"):
        equalised_factorisation(M, 2)
    with pytest.raises(ValueError, match="width must be >= rank"):
        induced_regulariser(M, 2, 0.5)


def test_no_factorisation_beats_the_nuclear_bound_scipy_slsqp() -> None:
    """Constrained minimisation over all (U, V) with UV^T = M, from many starts (scipy as the oracle)."""
    rng = np.random.default_rng(3)
    d_out, d_in, rank, width = 3, 3, 2, 3
    M = rng.normal(size=(d_out, rank)) @ rng.normal(size=(rank, d_in))
    bound = np.linalg.svd(M, compute_uv=False).sum() ** 2 / width

    def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[: d_out * width].reshape(d_out, width), theta[d_out * width :].reshape(d_in, width)

    def penalty(theta: np.ndarray) -> float:
        U, V = split(theta)
        return float(((U**2).sum(0) * (V**2).sum(0)).sum())

    def penalty_grad(theta: np.ndarray) -> np.ndarray:
        U, V = split(theta)
        return np.concatenate([(2 * U * (V**2).sum(0)).ravel(), (2 * V * (U**2).sum(0)).ravel()])

    def constraint_jac(theta: np.ndarray) -> np.ndarray:
        U, V = split(theta)
        # d(UV^T)_ab / dU_ci = [a = c] V_bi;  d(UV^T)_ab / dV_ci = [b = c] U_ai
        dU = np.einsum("ac,bi->abci", np.eye(d_out), V).reshape(d_out * d_in, d_out * width)
        dV = np.einsum("bc,ai->abci", np.eye(d_in), U).reshape(d_out * d_in, d_in * width)
        return np.hstack([dU, dV])

    constraint = {"type": "eq", "fun": lambda t: (split(t)[0] @ split(t)[1].T - M).ravel(), "jac": constraint_jac}
    found = []
    for _ in range(8):
        result = optimize.minimize(penalty, rng.normal(size=(d_out + d_in) * width), jac=penalty_grad, method="SLSQP",
                                   constraints=[constraint], options={"ftol": 1e-12, "maxiter": 300})
        U, V = split(result.x)
        if result.success and np.abs(U @ V.T - M).max() < 1e-7:
            found.append(result.fun)
    assert len(found) >= 4
    assert min(found) >= bound * (1 - 1e-6)
    assert min(found) == pytest.approx(bound, rel=1e-5)


@pytest.mark.parametrize("weight", [0.05, 0.3, 2.0])
def test_squared_nuclear_shrinkage_is_the_minimiser(weight: float) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 4))

    def objective(M: np.ndarray) -> float:
        return float(((X - M) ** 2).sum() + weight * np.linalg.svd(M, compute_uv=False).sum() ** 2)

    M_star = squared_nuclear_shrinkage(torch.tensor(X), weight).numpy()
    # Oracle 1: minimise over the full matrix with a derivative-free method, started at X.
    result = optimize.minimize(lambda t: objective(t.reshape(5, 4)), X.ravel(), method="Powell",
                               options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 200_000})
    assert objective(M_star) <= result.fun + 1e-9
    # Oracle 2: convexity, so no perturbation may do better.
    for _ in range(200):
        assert objective(M_star) <= objective(M_star + 1e-3 * rng.normal(size=X.shape)) + 1e-12


def test_shrinkage_thresholds_small_singular_values_to_zero() -> None:
    X = torch.diag(torch.tensor([5.0, 1.0, 0.1], dtype=f64))
    shrunk = torch.linalg.svdvals(squared_nuclear_shrinkage(X, 0.5))
    # tau with k = 1: 0.5 * 5 / 1.5 = 5/3 > 1, so only the first survives, at 5 - 5/3.
    np.testing.assert_allclose(shrunk.numpy(), [10 / 3, 0.0, 0.0], atol=1e-12)


def test_training_gradients_match_autograd() -> None:
    """One step of train_linear_network equals one autograd SGD step on the same masks."""
    x = whitened_inputs(16, 3, generator=seeded_generator(5))
    y = torch.randn(16, 2, generator=seeded_generator(6), dtype=f64)
    p, lr = 0.3, 0.05
    U1, V1 = train_linear_network(x, y, 4, p, steps=1, lr=lr, generator=seeded_generator(7))
    g = seeded_generator(7)
    U = (0.5 * torch.randn(2, 4, generator=g, dtype=f64)).requires_grad_()
    V = (0.5 * torch.randn(3, 4, generator=g, dtype=f64)).requires_grad_()
    scaled = F.dropout(torch.ones(16, 4, dtype=f64), p, generator=g)
    loss = ((y - ((x @ V) * scaled) @ U.T) ** 2).sum(1).mean()
    gU, gV = torch.autograd.grad(loss, (U, V))
    np.testing.assert_allclose(U1.numpy(), (U - lr * gU).detach().numpy(), atol=1e-13)
    np.testing.assert_allclose(V1.numpy(), (V - lr * gV).detach().numpy(), atol=1e-13)


@intra_op_threads(1)
def test_training_without_dropout_fits_and_with_dropout_equalises() -> None:
    x = whitened_inputs(64, 4, generator=seeded_generator(8))
    A = torch.randn(4, 2, generator=seeded_generator(9), dtype=f64) @ torch.randn(2, 4, generator=seeded_generator(10), dtype=f64)
    U, V = train_linear_network(x, x @ A.T, 6, 0.0, steps=800, generator=seeded_generator(11))
    assert (U @ V.T - A).abs().max().item() < 1e-2
    products = unit_norm_products(*train_linear_network(x, x @ A.T, 6, 0.5, steps=800, generator=seeded_generator(11)))
    target = nuclear_norm(squared_nuclear_shrinkage(A, 1.0 / 6)).item() / 6
    assert products.std().item() / products.mean().item() < 0.15
    assert products.mean().item() == pytest.approx(target, rel=0.1)


def test_linear_training_is_reproducible_and_validates() -> None:
    x, y = whitened_inputs(8, 2, generator=seeded_generator(12)), torch.zeros(8, 2, dtype=f64)
    a = train_linear_network(x, y, 3, 0.5, steps=5, generator=seeded_generator(13))
    b = train_linear_network(x, y, 3, 0.5, steps=5, generator=seeded_generator(13))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1.0"):
        train_linear_network(x, y, 3, 1.0)
    with pytest.raises(ValueError, match="x and y must agree"):
        train_linear_network(x, y[:4], 3, 0.5)
    with pytest.raises(ValueError, match="same width"):
        explicit_regulariser(torch.ones(2, 3, dtype=f64), torch.ones(2, 4, dtype=f64), 0.5)
    assert penalty_weight(0.2) == pytest.approx(0.25)


@pytest.mark.parametrize(("c", "v", "p"), [(0.0, 1.0, 0.5), (1.5, 0.8, 0.3), (-2.0, 0.5, 0.7)])
def test_variance_shift_against_numpy_simulation(c: float, v: float, p: float) -> None:
    """Independent simulation: numpy's generator, numpy's Bernoulli; tolerance from a 1e-6 false alarm."""
    rng = np.random.default_rng(14)
    n = 400_000
    x = rng.normal(c, math.sqrt(v), size=n)
    y = x * rng.binomial(1, 1 - p, size=n) / (1 - p)
    sample_var = y.var(ddof=1)
    stderr = math.sqrt(max(((y - y.mean()) ** 4).mean() - sample_var**2, 0.0) / n)
    assert abs(sample_var - dropout_train_variance(c, v, p)) <= z_for_false_alarm(1e-6) * stderr
    assert variance_shift_ratio(c, v, p) == pytest.approx(v / dropout_train_variance(c, v, p), rel=1e-12)
    assert variance_shift_ratio(c, v, p) < 1
    assert variance_shift_ratio(c, v, 0.0) == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        variance_shift_ratio(c, v, 1.0)


def test_recalibrated_statistics_are_the_test_time_statistics() -> None:
    g = seeded_generator(15)
    model = dropout_batchnorm_mlp(3, 5, 2, 0.5, generator=g)
    data = torch.randn(200, 3, generator=g, dtype=f64)
    model.train()
    model(data)  # running statistics now carry the dropout variance
    momentum = model[3].momentum
    recalibrate_batchnorm(model, data, batch_size=200)
    with torch.no_grad():
        features = model[:2](data)
    np.testing.assert_allclose(model[3].running_var.numpy(), features.var(0, unbiased=True).numpy(), rtol=1e-12)
    np.testing.assert_allclose(model[3].running_mean.numpy(), features.mean(0).numpy(), atol=1e-12)
    assert model.training and all(m.training for m in model.modules()) and model[3].momentum == momentum


def test_recalibration_restores_modes_when_the_forward_pass_raises() -> None:
    model = dropout_batchnorm_mlp(3, 5, 2, 0.5, generator=seeded_generator(16)).eval()
    with pytest.raises(RuntimeError):
        recalibrate_batchnorm(model, torch.randn(10, 4, dtype=f64))  # wrong input width
    assert not any(m.training for m in model.modules()) and model[3].momentum == 0.1
    with pytest.raises(ValueError, match="no BatchNorm"):
        recalibrate_batchnorm(torch.nn.Linear(2, 2).double(), torch.randn(4, 2, dtype=f64))


@pytest.mark.gpu
def test_linear_training_runs_on_cuda() -> None:
    x = whitened_inputs(32, 3, generator=seeded_generator(17)).cuda()
    U, V = train_linear_network(x, x.clone(), 4, 0.5, steps=50, generator=seeded_generator(18, "cuda"))
    assert U.device.type == "cuda" and torch.isfinite(explicit_regulariser(U, V, 0.5)).item()
