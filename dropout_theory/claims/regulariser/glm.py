"""Regulariser claims for generalised linear models (Wager et al.; Helmbold & Long): the label-free
penalty R(β), its quadratic approximation, and the non-convex logistic penalty.

Catalogue items C2, E1, E2, N1. Wager et al.'s δ is the drop probability, the package's ``p``.
"""

from __future__ import annotations

import math

import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence, symbolic_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.montecarlo import check_mean
from dropout_theory.regularisation import (
    GAUSSIAN,
    LOGISTIC,
    column_norms_squared,
    enumerate_dropout_least_squares,
    glm_dropout_penalty,
    glm_expected_loss,
    glm_loss,
    glm_penalty_small_drop_slope,
    glm_quadratic_penalty,
)
from dropout_theory.symbolic import bernoulli_expectation, enumerated_expectation, gates, is_zero


def _glm_problem(seed: int, n: int = 24, d: int = 6, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = seeded_generator(seed, "cpu")
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    beta = scale * torch.randn(d, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(X @ beta)).double()
    return X, beta, y


@claim(
    "regulariser.glm-penalty-exact",
    title="GLM dropout adds a label-free penalty R(β) (Wager et al.)",
    statement=r"For a GLM $\ell(\beta;x,y) = -y\,x\cdot\beta + A(x\cdot\beta)$ and $\tilde x = x\odot z/(1-\delta)$, "
    r"$z_j\sim\mathrm{Bernoulli}(1-\delta)$ ($\delta$ = drop): $\sum_i\mathbb{E}\,\ell(\beta;\tilde x_i,y_i) = \sum_i\ell(\beta;x_i,y_i) + R(\beta)$ "
    r"with $R(\beta) = \sum_i \mathbb{E}A(\tilde x_i\cdot\beta) - A(x_i\cdot\beta) \ge 0$, which does not depend on $y$.",
    source="wager2013dropout",
    catalogue=("E1",),
)
def glm_penalty_exact() -> list[Evidence]:
    A = sp.Function("A")
    y, x1, x2, b1, b2 = sp.symbols("y x1 x2 b1 b2", real=True)
    delta = sp.Symbol("delta", positive=True)
    z = gates("z", 2)
    noisy = (x1 * z[0] * b1 + x2 * z[1] * b2) / (1 - delta)
    expected = enumerated_expectation(-y * noisy + A(noisy), z, 1 - delta)
    excess = expected - (-y * (x1 * b1 + x2 * b2) + A(x1 * b1 + x2 * b2))
    label_coefficient = sp.simplify(sp.diff(excess, y))
    penalty = sp.collect(sp.expand(excess.subs(y, 0)), delta)
    X, beta, labels = _glm_problem(42)
    p = 0.3
    R = glm_dropout_penalty(beta, X, p)
    gaps = [abs(float(glm_expected_loss(beta, X, yy, p) - glm_loss(beta, X, yy) - R)) / float(R) for yy in (labels, 1 - labels)]
    noisy_X = F.dropout(X.expand(100_000, -1, -1), p, generator=seeded_generator(43, "cpu"))
    sampled_R = (LOGISTIC.log_partition(noisy_X @ beta) - LOGISTIC.log_partition(X @ beta)).sum(1)
    return [
        symbolic_evidence(label_coefficient == 0 and is_zero(penalty.subs(delta, 0)),
                  f"d=2, any A (an undefined function): d/dy [E l(x~) - l(x)] = {label_coefficient}; R = {penalty}, 0 at delta=0"),
        exact_evidence(max(gaps) if float(R) > 0 else math.inf,
               f"logistic, N=24, d=6, delta={p}: R = {float(R):.5f} > 0; relative gap of E l - l - R for labels y and 1-y"),
        check_mean(sampled_R, R, detail="R from the package's inverted dropout applied to the features"),
    ]


@claim(
    "regulariser.glm-gaussian-exact",
    title="For linear regression the quadratic penalty is exact and is Srivastava's penalty",
    statement=r"With $A(u) = u^2/2$ ($A'' = 1$): $R(\beta) = R^q(\beta) = \frac12\frac{\delta}{1-\delta}\|\Gamma\beta\|^2$, "
    r"$\Gamma = (\mathrm{diag}X^\top X)^{1/2}$: half the inverted-dropout least-squares penalty "
    r"$\frac{1-q}{q}\|\Gamma\beta\|^2$ with $q = 1-\delta$.",
    source="wager2013dropout,srivastava2014dropout",
    catalogue=("E2", "C2"),
)
def glm_gaussian_exact() -> list[Evidence]:
    delta = sp.Symbol("delta", positive=True)
    xs, bs = sp.symbols("x1:4", real=True), sp.symbols("b1:4", real=True)
    z = gates("z", 3)
    u = sum(x * b for x, b in zip(xs, bs))
    noisy = sum(x * zz * b for x, zz, b in zip(xs, z, bs)) / (1 - delta)
    R_sym = bernoulli_expectation(noisy**2 / 2, z, 1 - delta) - u**2 / 2
    R_q = sp.Rational(1, 2) * delta / (1 - delta) * sum(x**2 * b**2 for x, b in zip(xs, bs))
    g = seeded_generator(44, "cpu")
    X, y, beta = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    p = 0.35
    R = glm_dropout_penalty(beta, X, p, GAUSSIAN)
    srivastava = 0.5 * (enumerate_dropout_least_squares(beta, X, y, p, inverted=True) - ((y - X @ beta) ** 2).sum())
    closed = 0.5 * p / (1 - p) * (column_norms_squared(X) * beta**2).sum()
    err = max(abs(float(R - glm_quadratic_penalty(beta, X, p, GAUSSIAN))), abs(float(R - srivastava)), abs(float(R - closed))) / float(closed)
    return [
        symbolic_evidence(is_zero(R_sym - R_q), "d=3 symbolic: E[(x~.b)^2/2] - (x.b)^2/2 = delta/(2(1-delta)) sum x_j^2 b_j^2"),
        exact_evidence(err, "N=4, d=4, delta=0.35: R (2^4 feature masks per row) vs R^q, vs half of Srivastava's loss over all 2^16 masks minus the fit, vs closed form"),
    ]


def _relative_quadratic_error(beta: torch.Tensor, X: torch.Tensor, p: float) -> float:
    R = glm_dropout_penalty(beta, X, p)
    return float((glm_quadratic_penalty(beta, X, p) - R) / R)


@claim(
    "regulariser.glm-quadratic-small-weights",
    title="Wager's quadratic penalty is accurate when the dropout noise x̃·β − x·β is small",
    statement=r"$R^q(\beta) = \frac12\sum_i A''(x_i\cdot\beta)\,\mathrm{Var}(\tilde x_i\cdot\beta) = \frac12\frac{\delta}{1-\delta}\sum_j\beta_j^2\sum_i A''(x_i\cdot\beta)x_{ij}^2$; "
    r"for logistic regression its relative error $|R^q - R|/R$ shrinks to 0 as the weights shrink ($\beta \to s\beta$, $s \to 0$), at every $\delta$.",
    source="wager2013dropout",
    catalogue=("E2",),
)
def glm_quadratic_small_weights() -> list[Evidence]:
    delta = sp.Symbol("delta", positive=True)
    xs, bs = sp.symbols("x1:4", real=True), sp.symbols("b1:4", real=True)
    z = gates("z", 3)
    noisy = sum(x * zz * b for x, zz, b in zip(xs, z, bs)) / (1 - delta)
    var = bernoulli_expectation(noisy**2, z, 1 - delta) - bernoulli_expectation(noisy, z, 1 - delta) ** 2
    X, beta, _ = _glm_problem(45)
    scales = (1.0, 0.3, 0.1, 0.03)
    table = {p: [abs(_relative_quadratic_error(s * beta, X, p)) for s in scales] for p in (0.5, 0.1, 0.01)}
    shrinking = all(all(a > b for a, b in zip(errs, errs[1:])) for errs in table.values())
    worst_small = max(errs[-1] for errs in table.values())
    text = "; ".join(f"delta={p}: " + ", ".join(f"{e:.1e}" for e in errs) for p, errs in table.items())
    return [
        symbolic_evidence(is_zero(var - delta / (1 - delta) * sum(x**2 * b**2 for x, b in zip(xs, bs))),
                  "d=3: Var(x~.b) = delta/(1-delta) sum_j x_j^2 b_j^2, so R^q = 1/2 sum_i A'' Var is the stated form"),
        Evidence("exact", shrinking and worst_small < 1e-3,
                 f"logistic, N=24, d=6, exact R by enumeration; |R^q - R|/R at s = {scales}: {text}",
                 estimate=worst_small, target=0.0, tolerance=1e-3),
    ]


@claim(
    "regulariser.glm-quadratic-small-drop",
    title="Refuted: the quadratic approximation becomes exact as δ → 0",
    statement=r"For logistic regression with fixed $\beta$, the relative error $|R^q(\beta) - R(\beta)|/R(\beta)$ of the "
    r"quadratic approximation tends to 0 as the drop probability $\delta \to 0$.",
    source="wager2013dropout",
    expectation="refuted",
    catalogue=("E2",),
)
def glm_quadratic_small_drop() -> list[Evidence]:
    X, beta, _ = _glm_problem(45)
    slope = glm_penalty_small_drop_slope(beta, X)
    limit = float(glm_quadratic_penalty(beta, X, 0.5) / slope - 1)  # R^q/delta -> the p=1/2 value (delta/(1-delta) = 1)
    deltas = (1e-2, 1e-3, 1e-4, 1e-5)
    errors = [_relative_quadratic_error(beta, X, p) for p in deltas]
    converged = abs(errors[-1] - limit) < 1e-3 * abs(limit)
    return [
        Evidence("exact", not (converged and abs(limit) > 0.01),
                 f"logistic, N=24, d=6: relative error at delta = {deltas}: " + ", ".join(f"{e:+.5f}" for e in errors)
                 + f"; first-order limit (sum_ij A(u_i - x_ij b_j) - A(u_i) + A'(u_i) x_ij b_j vs its quadratic) = {limit:+.5f}",
                 estimate=errors[-1], target=0.0),
    ]


@claim(
    "regulariser.logistic-penalty-nonconvex",
    title="The logistic dropout penalty is bounded and not convex (Helmbold & Long)",
    statement=r"For logistic regression on one example $x = 1$: $R(\beta) = (1-\delta)A(\beta/(1-\delta)) + \delta A(0) - A(\beta)$ "
    r"is bounded by $\delta\log 2$ as $\beta\to\infty$ and has $R''(\beta) < 0$ for large $\beta$ (here at $\beta = 3$, $\delta = \frac12$): "
    r"it is not convex, and its growth does not continue as the weights grow.",
    source="helmbold2015inductive,wager2013dropout",
    catalogue=("E2", "N1"),
)
def logistic_penalty_nonconvex() -> list[Evidence]:
    b = sp.Symbol("beta", real=True)
    delta = sp.Rational(1, 2)
    A = lambda u: sp.log(1 + sp.exp(u))  # noqa: E731 - the logistic log-partition, symbolically
    R = (1 - delta) * A(b / (1 - delta)) + delta * A(0) - A(b)
    curvature = sp.diff(R, b, 2).subs(b, 3)
    limit = sp.limit(R, b, sp.oo)
    X = torch.ones(1, 1, dtype=torch.float64)
    h = 0.5
    grid = torch.arange(0.0, 12.01, h, dtype=torch.float64)
    values = torch.stack([glm_dropout_penalty(torch.tensor([float(v)], dtype=torch.float64), X, 0.5) for v in grid])
    second_difference = values[2:] - 2 * values[1:-1] + values[:-2]
    worst = float(second_difference.min())
    return [
        symbolic_evidence(bool(curvature < 0) and sp.simplify(limit - sp.log(2) / 2) == 0,
                  f"delta=1/2: R''(3) = {sp.N(curvature, 6)} < 0; lim R = {limit}"),
        Evidence("exact", worst < -1e-6 and float(values.max()) < math.log(2) / 2,
                 f"enumerated R on beta = 0..12 (step {h}): min second difference {worst:.3e} < 0; max R = {float(values.max()):.5f} < log(2)/2",
                 estimate=worst, target=0.0),
    ]
