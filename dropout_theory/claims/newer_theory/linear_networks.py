"""Newer-theory claims on dropout in linear networks (Mianjy et al.): the explicit regulariser
lambda sum ||u_i||^2 ||v_i||^2, when it needs whitened inputs, the induced squared nuclear norm,
and training's equalisation of the units.

Catalogue items L1, L3. The formulas are derived and checked here; the cited papers' own
theorem statements are not reproduced (CLAIMS.md §O lists them as unconfirmed).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import optimize

from dropout_theory.claims.core import Evidence, claim, exact_evidence, symbolic_evidence
from dropout_theory.claims.newer_theory.conventions import EXACT_TOL, f64, q_sym
from dropout_theory.devices import seeded_generator
from dropout_theory.implicit_bias import (
    equalised_factorisation,
    exact_hidden_dropout_loss,
    explicit_regulariser,
    hidden_dropout_forward,
    nuclear_norm,
    unit_norm_products,
    whitened_inputs,
)
from dropout_theory.montecarlo import check_mean
from dropout_theory.newer_theory_experiments import equalisation_runs, product_spread
from dropout_theory.symbolic import bernoulli_expectation, gates, is_zero


def _linear_net_symbols(d_in: int, d_out: int, r: int):
    U = sp.Matrix(d_out, r, lambda a, i: sp.Symbol(f"u{a + 1}{i + 1}", real=True))
    V = sp.Matrix(d_in, r, lambda a, i: sp.Symbol(f"v{a + 1}{i + 1}", real=True))
    x = sp.Matrix(d_in, 1, lambda a, _: sp.Symbol(f"x{a + 1}", real=True))
    y = sp.Matrix(d_out, 1, lambda a, _: sp.Symbol(f"y{a + 1}", real=True))
    return U, V, x, y


def _random_factors(d_out: int, d_in: int, r: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = seeded_generator(seed)
    return torch.randn(d_out, r, generator=g, dtype=f64), torch.randn(d_in, r, generator=g, dtype=f64)


@claim(
    "newer-theory.linear-explicit-regulariser",
    title="Dropout on the hidden units of a linear network adds lambda sum ||u_i||^2 ||v_i||^2",
    statement=r"For $f_b(x) = q^{-1} U \operatorname{diag}(b) V^\top x$, $b_i \sim \mathrm{Bernoulli}(q)$: "
    r"for every pair $(x, y)$, $\mathbb{E}_b\|y - f_b(x)\|^2 = \|y - UV^\top x\|^2 + \lambda\sum_i \|u_i\|^2 (v_i^\top x)^2$, "
    r"$\lambda = (1-q)/q$. Averaged over data with $\mathbb{E}\,xx^\top = I$ the penalty is "
    r"$\lambda\sum_i \|u_i\|^2\|v_i\|^2$.",
    source="mianjy2018implicit",
    catalogue=("L1",),
)
def linear_explicit_regulariser() -> list[Evidence]:
    U, V, x, y = _linear_net_symbols(2, 2, 2)
    b = gates("b", 2)
    out = U * sp.diag(*b) * V.T * x / q_sym
    loss = bernoulli_expectation(((y - out).T * (y - out))[0], b, q_sym)
    lam = (1 - q_sym) / q_sym
    per_unit = [(U[:, i].T * U[:, i])[0] * ((V[:, i].T * x)[0]) ** 2 for i in range(2)]
    plain = ((y - U * V.T * x).T * (y - U * V.T * x))[0]
    per_sample_ok = is_zero(loss - plain - lam * sum(per_unit))
    # E over x with E xx^T = C: replace each monomial x_a x_b of the (quadratic) penalty by C_ab.
    C = {(a, c): sp.Symbol(f"C{min(a, c)}{max(a, c)}", real=True) for a in range(2) for c in range(2)}
    poly = sp.Poly(sp.expand(sum(per_unit)), *x)
    moment = sum(coef * C[tuple(a for a, e in enumerate(mon) for _ in range(e))] for mon, coef in poly.terms())
    whitened = moment.subs({C[(0, 0)]: 1, C[(1, 1)]: 1, C[(0, 1)]: 0})
    norms = sum((U[:, i].T * U[:, i])[0] * (V[:, i].T * V[:, i])[0] for i in range(2))

    # Exact: all 2^6 masks on a data set with (1/n) X^T X = I exactly.
    p, r = 0.3, 6
    Ut, Vt = _random_factors(3, 4, r, 40)
    X = whitened_inputs(16, 4, generator=seeded_generator(41))
    Y = torch.randn(16, 3, generator=seeded_generator(42), dtype=f64)
    exact = exact_hidden_dropout_loss(Ut, Vt, X, Y, p).item()
    closed = ((Y - X @ Vt @ Ut.T) ** 2).sum(-1).mean().item() + explicit_regulariser(Ut, Vt, p).item()
    aniso_exact, _, aniso_with_covariance = _anisotropic_losses(Ut, Vt, p)

    # Monte Carlo: the package's op, one pair (x, y), per-sample form.
    x0, y0 = X[0], Y[0]
    losses = ((y0 - hidden_dropout_forward(Ut, Vt, x0.expand(200_000, -1), p, generator=seeded_generator(43))) ** 2).sum(-1)
    target = ((y0 - Ut @ Vt.T @ x0) ** 2).sum().item() + p / (1 - p) * ((Ut**2).sum(0) * (x0 @ Vt) ** 2).sum().item()
    return [
        symbolic_evidence(per_sample_ok and is_zero(whitened - norms),
                  "d_in = d_out = r = 2, gates averaged by algebra: per-sample identity; with x x^T -> C = I the "
                  "penalty becomes sum ||u_i||^2 ||v_i||^2"),
        exact_evidence(abs(exact - closed), f"all 2^{r} masks, 16 inputs with (1/n) X^T X = I exactly, p={p}: {exact:.12f} vs {closed:.12f}", tol=EXACT_TOL),
        exact_evidence(abs(aniso_exact - aniso_with_covariance), f"all 2^{r} masks, 12 anisotropic inputs: exact vs plain + lam sum ||u_i||^2 v_i^T C v_i, C = (1/n) X^T X", tol=EXACT_TOL),
        check_mean(losses, target, detail=f"per-sample loss through the package's dropout, one (x, y), p={p}"),
    ]


@claim(
    "newer-theory.whitening-assumed",
    title="Refuted: the penalty is lambda sum ||u_i||^2 ||v_i||^2 for any input distribution",
    statement=r"(A tempting overstatement.) Whatever the inputs' second moment, dropout's expected loss on the "
    r"data equals the plain loss plus $\lambda\sum_i \|u_i\|^2\|v_i\|^2$.",
    source="mianjy2018implicit",
    expectation="refuted",
    catalogue=("L1",),
)
def whitening_assumed() -> list[Evidence]:
    p, r = 0.3, 6
    Ut, Vt = _random_factors(3, 4, r, 40)
    exact, whitened_form, _ = _anisotropic_losses(Ut, Vt, p)
    gap = abs(exact - whitened_form)
    return [Evidence("exact", gap <= EXACT_TOL,
                     f"12 anisotropic inputs (scales 3, 1, 0.5, 0.2), all 2^{r} masks: exact {exact:.6f}, "
                     f"whitened form {whitened_form:.6f}",
                     estimate=gap, target=0.0, tolerance=EXACT_TOL)]


def _anisotropic_losses(Ut: torch.Tensor, Vt: torch.Tensor, p: float) -> tuple[float, float, float]:
    """Exact dropout loss on anisotropic data; the whitened form; the form with C = (1/n) X^T X."""
    g = seeded_generator(45)
    X = torch.randn(12, Vt.shape[0], generator=g, dtype=f64) @ torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.2], dtype=f64))
    Y = torch.randn(12, Ut.shape[0], generator=g, dtype=f64)
    plain = ((Y - X @ Vt @ Ut.T) ** 2).sum(-1).mean().item()
    covariance = X.T @ X / X.shape[0]
    return (exact_hidden_dropout_loss(Ut, Vt, X, Y, p).item(), plain + explicit_regulariser(Ut, Vt, p).item(),
            plain + explicit_regulariser(Ut, Vt, p, covariance).item())


@claim(
    "newer-theory.induced-nuclear-penalty",
    title="Over all factorisations of M, the penalty's minimum is ||M||_*^2 / r, at equal unit products",
    statement=r"For width $r \ge \operatorname{rank} M$: $\min_{UV^\top = M} \sum_{i=1}^r \|u_i\|^2\|v_i\|^2 = \|M\|_*^2/r$, "
    r"attained when every $\|u_i\|\|v_i\| = \|M\|_*/r$; so dropout's induced regulariser is $(\lambda/r)\|M\|_*^2$.",
    source="mianjy2018implicit,cavazza2018dropout",
    catalogue=("L1", "L3"),
)
def induced_nuclear_penalty() -> list[Evidence]:
    g = seeded_generator(46)
    worst = 0.0
    shapes = [(3, 4, 2, 3), (4, 3, 3, 5), (5, 5, 1, 7), (3, 3, 3, 3), (2, 6, 2, 8)]
    for d_out, d_in, k, r in shapes:
        M = torch.randn(d_out, k, generator=g, dtype=f64) @ torch.randn(k, d_in, generator=g, dtype=f64)
        U, V = equalised_factorisation(M, r)
        products = unit_norm_products(U, V)
        bound = nuclear_norm(M).item() ** 2 / r
        worst = max(worst, (U @ V.T - M).abs().max().item(), (products - math.sqrt(bound / r)).abs().max().item(),
                    abs((products**2).sum().item() - bound) / bound)
    # No factorisation beats the bound: random ones, and local minimisation from many starts.
    d_out, d_in, k, r = 3, 3, 2, 4
    M = torch.randn(d_out, k, generator=g, dtype=f64) @ torch.randn(k, d_in, generator=g, dtype=f64)
    W, s, Zt = torch.linalg.svd(M)
    U0 = (W[:, :k] * s[:k].sqrt()).numpy()
    V0 = (Zt[:k].T * s[:k].sqrt()).numpy()
    bound = nuclear_norm(M).item() ** 2 / r

    def penalty(theta: np.ndarray) -> float:
        # U = [U0, P] G, V = [V0, 0] G^{-T}: a factorisation of M for every invertible G and any P.
        G = theta[: r * r].reshape(r, r)
        P = theta[r * r :].reshape(d_out, r - k)
        U = np.hstack([U0, P]) @ G
        V = np.hstack([V0, np.zeros((d_in, r - k))]) @ np.linalg.inv(G).T
        return float(((U**2).sum(0) * (V**2).sum(0)).sum())

    rng = np.random.default_rng(47)
    starts = [np.concatenate([rng.normal(size=r * r), rng.normal(size=d_out * (r - k))]) for _ in range(200)]
    sampled = min(penalty(t) for t in starts)
    optimised = [optimize.minimize(penalty, t, method="BFGS", options={"gtol": 1e-10}).fun for t in starts[:12]]
    return [
        exact_evidence(worst, f"equalised factorisation from SVD + Givens rotations, (d_out, d_in, rank, r) in {shapes}: "
                      "max |UV^T - M|, max |products - ||M||_*/r|, relative penalty gap", tol=EXACT_TOL),
        Evidence("experiment", sampled >= bound and min(optimised) >= bound * (1 - 1e-9)
                 and min(optimised) <= bound * (1 + 1e-5),
                 f"3x3 rank 2, r=4: 200 random factorisations, min penalty {sampled:.6f}; BFGS from 12 of them: "
                 f"best {min(optimised):.10f}, worst {max(optimised):.6f}; bound ||M||_*^2/r = {bound:.10f} "
                 "(pass: none below the bound, best within 1e-5 of it)",
                 estimate=min(optimised), target=bound, tolerance=bound * 1e-5),
    ]


EQUALISE_MARGIN = 1 / 3


@claim(
    "newer-theory.dropout-equalises-units",
    title="Training with dropout equalises ||u_i|| ||v_i|| across hidden units",
    statement=r"Gradient descent with dropout ($p = 0.5$) on a linear network of width 6 ends with nearly equal "
    r"products $\|u_i\|\|v_i\|$: their coefficient of variation is at most a third of that reached without dropout "
    r"from the same start, in each of 8 seeds; and $UV^\top$ approaches the minimiser of "
    r"$\|A - M\|_F^2 + (\lambda/r)\|M\|_*^2$.",
    source="mianjy2018implicit",
    catalogue=("L1",),
)
def dropout_equalises_units() -> list[Evidence]:
    runs = equalisation_runs()
    ratio = product_spread(runs["dropout"]) / product_spread(runs["plain"])
    gap = ((runs["product"] - runs["optimum"]).flatten(1).norm(dim=1) / runs["optimum"].flatten(1).norm(dim=1))
    return [
        Evidence("experiment", bool((ratio <= EQUALISE_MARGIN).all()),
                 f"spread (std/mean of products) with dropout / without, per seed: {np.round(ratio.numpy(), 3).tolist()}; "
                 f"without dropout: {np.round(product_spread(runs['plain']).numpy(), 2).tolist()}",
                 estimate=ratio.max().item(), target=0.0, tolerance=EQUALISE_MARGIN),
        Evidence("experiment", bool((gap <= 0.15).all()),
                 f"relative Frobenius distance of UV^T to the squared-nuclear-norm minimiser, per seed: "
                 f"{np.round(gap.numpy(), 3).tolist()} (pass: all <= 0.15; dropout noise keeps it above 0)",
                 estimate=gap.max().item(), target=0.0, tolerance=0.15),
    ]
