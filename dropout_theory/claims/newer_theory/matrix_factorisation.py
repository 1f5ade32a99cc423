"""Newer-theory claims on dropout in matrix factorisation (Cavazza et al.): column dropout's penalty
and the squared-nuclear-norm problem it solves by data-dependent thresholding.

Catalogue item L3. The formulas are derived and checked here; the cited papers' own theorem
statements are not reproduced (CLAIMS.md §O lists them as unconfirmed).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from scipy import optimize

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence, symbolic_evidence
from dropout_theory.claims.newer_theory.conventions import EXACT_TOL, f64, q_sym
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import expectation_over_masks
from dropout_theory.implicit_bias import (
    equalised_factorisation,
    explicit_regulariser,
    nuclear_norm,
    squared_nuclear_shrinkage,
)
from dropout_theory.montecarlo import check_mean
from dropout_theory.symbolic import enumerated_expectation, gates, is_zero


@claim(
    "newer-theory.column-dropout-penalty",
    title="Column dropout in matrix factorisation adds lambda sum ||U_i||^2 ||V_i||^2",
    statement=r"For $X \in \mathbb{R}^{m\times n}$ and factors of width $r$: "
    r"$\mathbb{E}_b\|X - q^{-1}U\operatorname{diag}(b)V^\top\|_F^2 = \|X - UV^\top\|_F^2 + \lambda\sum_{i=1}^r \|U_i\|^2\|V_i\|^2$, "
    r"exactly, with no assumption on $X$.",
    source="cavazza2018dropout",
    catalogue=("L3",),
)
def column_dropout_penalty() -> list[Evidence]:
    b = gates("b", 2)
    U = sp.Matrix(2, 2, lambda a, i: sp.Symbol(f"u{a + 1}{i + 1}", real=True))
    V = sp.Matrix(3, 2, lambda a, i: sp.Symbol(f"v{a + 1}{i + 1}", real=True))
    X = sp.Matrix(2, 3, lambda a, c: sp.Symbol(f"x{a + 1}{c + 1}", real=True))

    def frobenius2(A: sp.Matrix) -> sp.Expr:
        return sum(e**2 for e in A)

    expected = enumerated_expectation(frobenius2(X - U * sp.diag(*b) * V.T / q_sym), b, q_sym)
    penalty = sum(frobenius2(U[:, i]) * frobenius2(V[:, i]) for i in range(2))
    symbolic_ok = is_zero(expected - frobenius2(X - U * V.T) - (1 - q_sym) / q_sym * penalty)

    p, r = 0.4, 7
    g = seeded_generator(50)
    Ut, Vt = torch.randn(5, r, generator=g, dtype=f64), torch.randn(4, r, generator=g, dtype=f64)
    Xt = torch.randn(5, 4, generator=g, dtype=f64)
    exact = expectation_over_masks(
        lambda m: ((Xt - (Ut[None] * m[:, None] / (1 - p)) @ Vt.T) ** 2).sum((-1, -2)), r, 1 - p
    ).item()
    closed = ((Xt - Ut @ Vt.T) ** 2).sum().item() + explicit_regulariser(Ut, Vt, p).item()
    # Column masks through the package's op: dropout of a ones row gives b/q, shared by the whole column.
    scaled = F.dropout(torch.ones(100_000, 1, r, dtype=f64), p, generator=seeded_generator(51))
    losses = ((Xt - (Ut * scaled) @ Vt.T) ** 2).sum((-1, -2))
    return [
        symbolic_evidence(symbolic_ok, "X 2x3, r = 2, sum over all 4 gate values: the identity simplifies to 0"),
        exact_evidence(abs(exact - closed), f"X 5x4, r={r}, all 2^{r} column masks, p={p}: {exact:.10f} vs {closed:.10f}", tol=EXACT_TOL),
        check_mean(losses, closed, detail=f"column dropout through the package's op, p={p}"),
    ]


def _singular_value_oracle(sigma: np.ndarray, weight: float) -> float:
    """min over s >= 0 of sum (sigma_j - s_j)^2 + weight (sum s_j)^2: a smooth bounded QP (scipy)."""
    result = optimize.minimize(
        lambda s: float(((sigma - s) ** 2).sum() + weight * s.sum() ** 2),
        x0=sigma / 2,
        jac=lambda s: -2 * (sigma - s) + 2 * weight * s.sum(),
        bounds=[(0.0, None)] * len(sigma),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    return float(result.fun)


@claim(
    "newer-theory.factorisation-squared-nuclear",
    title="Dropout matrix factorisation solves a squared-nuclear-norm problem by data-dependent thresholding",
    statement=r"For width $r \ge \min(m, n)$: $\min_{U,V} \|X - UV^\top\|_F^2 + \lambda\sum_i \|U_i\|^2\|V_i\|^2 "
    r"= \min_M \|X - M\|_F^2 + (\lambda/r)\|M\|_*^2$, attained at $M^\star$ with the singular vectors of $X$ and singular values "
    r"$\max(\sigma_j - \tau, 0)$, $\tau = \mu\sum_{j\le k}\sigma_j/(1 + \mu k)$, $\mu = \lambda/r$.",
    source="cavazza2018dropout",
    catalogue=("L3",),
)
def factorisation_squared_nuclear() -> list[Evidence]:
    p, r = 0.5, 4
    lam = p / (1 - p)
    mu = lam / r
    X = torch.randn(5, 4, generator=seeded_generator(52), dtype=f64)
    X = X @ torch.diag(torch.tensor([4.0, 2.0, 0.6, 0.1], dtype=f64))
    M_star = squared_nuclear_shrinkage(X, mu)
    convex_value = (((X - M_star) ** 2).sum() + mu * nuclear_norm(M_star) ** 2).item()
    oracle = _singular_value_oracle(torch.linalg.svdvals(X).numpy(), mu)
    U_star, V_star = equalised_factorisation(M_star, r)
    factored_at_star = (((X - U_star @ V_star.T) ** 2).sum() + explicit_regulariser(U_star, V_star, p)).item()
    Xn = X.numpy()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        U, V = theta[: 5 * r].reshape(5, r), theta[5 * r :].reshape(4, r)
        R = U @ V.T - Xn
        u2, v2 = (U**2).sum(0), (V**2).sum(0)
        value = float((R**2).sum() + lam * (u2 * v2).sum())
        grad_U = 2 * R @ V + 2 * lam * U * v2
        grad_V = 2 * R.T @ U + 2 * lam * V * u2
        return value, np.concatenate([grad_U.ravel(), grad_V.ravel()])

    rng = np.random.default_rng(53)
    runs = [optimize.minimize(objective, rng.normal(size=9 * r), jac=True, method="BFGS", options={"gtol": 1e-10})
            for _ in range(10)]
    values = [run.fun for run in runs]
    best = runs[int(np.argmin(values))].x
    product = best[: 5 * r].reshape(5, r) @ best[5 * r :].reshape(4, r).T
    product_gap = float(np.abs(product - M_star.numpy()).max())
    return [
        exact_evidence(abs(convex_value - oracle) + abs(factored_at_star - convex_value),
               f"thresholded SVD value {convex_value:.10f}; scipy over singular values {oracle:.10f}; "
               f"dropout objective at its equalised factorisation {factored_at_star:.10f}", tol=1e-8),
        Evidence("experiment", min(values) >= convex_value - 1e-9 and min(values) <= convex_value + 1e-7 and product_gap <= 1e-4,
                 f"BFGS on the factored objective from 10 random starts: values {min(values):.10f} .. {max(values):.10f} "
                 f"(pass: none below the convex minimum, best within 1e-7); best UV^T vs M*: max gap {product_gap:.1e}",
                 estimate=min(values), target=convex_value, tolerance=1e-7),
    ]
