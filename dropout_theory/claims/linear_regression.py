"""Claims of the chapter *Dropout and ridge regression* (book/linear-regression.md).

Catalogue items C1-C3, N1 and audit rows P6, P13, P28. Srivastava et al. write ``p`` for
the KEEP probability; here the code's ``p`` is the drop probability and the sympy symbol
``q`` the keep probability.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import linalg, optimize, stats

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.montecarlo import DEFAULT_FALSE_ALARM, check_mean
from dropout_theory.regularisation import (
    column_norms_squared,
    dropout_gradient_descent,
    dropout_least_squares_loss,
    dropout_least_squares_solution,
    enumerate_dropout_least_squares,
    equivalent_ridge_lambda,
    expected_loss_hessian,
    gaussian_input_noise_loss,
    multiplicative_gaussian_noise_loss,
    ridge_solution,
)
from dropout_theory.symbolic import bernoulli_expectation, gates

q_sym = sp.Symbol("q", positive=True)
SYM_N, SYM_D = 2, 2
COLUMN_SCALES = (0.5, 1.0, 2.5)  # unequal column norms: where dropout and ridge part ways



def _symbolic_problem() -> dict:
    """Symbolic X (N x D), y, w and one gate per entry of X."""
    X = sp.Matrix(SYM_N, SYM_D, lambda n, j: sp.Symbol(f"x{n + 1}{j + 1}", real=True))
    y = sp.Matrix(SYM_N, 1, lambda n, _: sp.Symbol(f"y{n + 1}", real=True))
    w = sp.Matrix(SYM_D, 1, lambda j, _: sp.Symbol(f"w{j + 1}", real=True))
    R = sp.Matrix(SYM_N, SYM_D, gates("r", SYM_N * SYM_D))
    gamma2 = [sum(X[n, j] ** 2 for n in range(SYM_N)) for j in range(SYM_D)]
    return {"X": X, "y": y, "w": w, "R": R, "gamma2": gamma2}


def _squared_norm(v: sp.Matrix) -> sp.Expr:
    return sum(e**2 for e in v)


def _srivastava_symbolic() -> tuple[dict, sp.Expr, sp.Expr]:
    """Expected non-inverted dropout loss by gate algebra, and Srivastava's closed form."""
    s = _symbolic_problem()
    noisy = s["R"].multiply_elementwise(s["X"])
    expected = bernoulli_expectation(_squared_norm(s["y"] - noisy * s["w"]), list(s["R"]), q_sym)
    closed = _squared_norm(s["y"] - q_sym * s["X"] * s["w"]) + q_sym * (1 - q_sym) * sum(g * wj**2 for g, wj in zip(s["gamma2"], s["w"]))
    return s, expected, closed


def _problem(seed: int, n: int, d: int, scales: tuple[float, ...] | None = None, standardised: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = seeded_generator(seed, "cpu")
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    if standardised:
        X = X - X.mean(0)
        X = X / X.norm(dim=0) * math.sqrt(n)  # every column: mean 0, squared norm N
    elif scales is not None:
        X = X * torch.tensor(scales, dtype=torch.float64)
    y = X @ torch.linspace(1.0, -0.5, d, dtype=torch.float64) + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


def _relative(a: torch.Tensor | float, b: torch.Tensor | float) -> float:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return float((a - b).abs().max() / b.abs().max())


@claim(
    "linear-regression.srivastava-expected-loss",
    title="Dropout on the inputs of least squares: Srivastava's expected loss",
    statement=r"With $R_{nj}\sim\mathrm{Bernoulli}(q)$ i.i.d. ($q$ = keep; Srivastava's $p$): "
    r"$\mathbb{E}_R\|y - (R\ast X)w\|^2 = \|y - qXw\|^2 + q(1-q)\|\Gamma w\|^2$, $\Gamma = (\mathrm{diag}\,X^\top X)^{1/2}$.",
    source="srivastava2014dropout",
    catalogue=("C1", "P28"),
)
def srivastava_expected_loss() -> list[Evidence]:
    _, expected, closed = _srivastava_symbolic()
    X, y = _problem(51, 6, 3, COLUMN_SCALES)
    w = torch.tensor([0.7, -1.2, 0.4], dtype=torch.float64)
    p = 0.3
    exact = enumerate_dropout_least_squares(w, X, y, p)
    Xm, ym = _problem(52, 8, 3, COLUMN_SCALES)
    wm = torch.tensor([0.7, -1.2, 0.4], dtype=torch.float64)
    noisy = F.dropout(Xm.expand(100_000, -1, -1), p, inverted=False, generator=seeded_generator(53, "cpu"))
    losses = ((ym - noisy @ wm) ** 2).sum(1)
    return [
        Evidence("symbolic", sp.expand(expected - closed) == 0, f"N={SYM_N}, D={SYM_D}, symbolic q, X, y, w: expectation over the {SYM_N * SYM_D} gates minus the closed form is 0"),
        exact_evidence(_relative(exact, dropout_least_squares_loss(w, X, y, p)), f"N=6, D=3: all 2^18 masks, p={p} (drop): relative error"),
        check_mean(losses, dropout_least_squares_loss(wm, Xm, ym, p), detail="N=8, D=3: loss under the package's non-inverted dropout"),
    ]


@claim(
    "linear-regression.reparametrised-loss",
    title="In the weights of inverted dropout, the penalty is ((1-q)/q)‖Γw̃‖²",
    statement=r"With $\tilde w = q w$ — the weights inverted dropout learns, $\tilde X = R\ast X/q$ — "
    r"$\mathbb{E}_R\|y - \tilde X\tilde w\|^2 = \|y - X\tilde w\|^2 + \frac{1-q}{q}\|\Gamma\tilde w\|^2$: a generalised ridge "
    r"penalty whose diagonal Tikhonov matrix depends on the data.",
    source="srivastava2014dropout",
    catalogue=("C2", "P28"),
)
def reparametrised_loss() -> list[Evidence]:
    s, expected, _ = _srivastava_symbolic()
    w_tilde = sp.Matrix(SYM_D, 1, lambda j, _: sp.Symbol(f"wt{j + 1}", real=True))
    substituted = expected.subs({wj: wt / q_sym for wj, wt in zip(s["w"], w_tilde)})
    stated = _squared_norm(s["y"] - s["X"] * w_tilde) + (1 - q_sym) / q_sym * sum(g * wt**2 for g, wt in zip(s["gamma2"], w_tilde))
    X, y = _problem(54, 4, 4, COLUMN_SCALES + (1.5,))
    w = torch.tensor([0.7, -1.2, 0.4, 0.9], dtype=torch.float64)
    p = 0.4
    exact = enumerate_dropout_least_squares(w, X, y, p, inverted=True)
    via_raw = enumerate_dropout_least_squares(w / (1 - p), X, y, p)
    return [
        Evidence("symbolic", sp.simplify(sp.expand(substituted - stated)) == 0,
                 f"N={SYM_N}, D={SYM_D}: Srivastava's expected loss at w = w~/q equals the stated form"),
        exact_evidence(max(_relative(exact, dropout_least_squares_loss(w, X, y, p, inverted=True)), _relative(via_raw, exact)),
               f"N=4, D=4, p={p}: inverted dropout over all 2^16 masks vs closed form, and vs non-inverted at w = w~/q"),
    ]


@claim(
    "linear-regression.closed-form-minimiser",
    title="The dropout minimiser in closed form",
    statement=r"$\tilde w^* = \big(X^\top X + \frac{1-q}{q}\mathrm{diag}\,X^\top X\big)^{-1}X^\top y$ minimises the inverted "
    r"expected loss, and $w^* = \tilde w^*/q$ minimises Srivastava's (non-inverted) one.",
    source="srivastava2014dropout",
    catalogue=("C2",),
)
def closed_form_minimiser() -> list[Evidence]:
    s, expected, _ = _srivastava_symbolic()
    stationary = sp.solve([sp.diff(expected, wj) for wj in s["w"]], list(s["w"]), dict=True)
    X_sym, y_sym = s["X"], s["y"]
    gram = X_sym.T * X_sym
    formula = (gram + (1 - q_sym) / q_sym * sp.diag(*[gram[j, j] for j in range(SYM_D)])).inv() * X_sym.T * y_sym / q_sym
    symbolic_ok = len(stationary) == 1 and all(sp.simplify(stationary[0][wj] - formula[j]) == 0 for j, wj in enumerate(s["w"]))
    X, y = _problem(55, 4, 4, COLUMN_SCALES + (1.5,))
    p = 0.3
    q = 1 - p
    w_tilde = dropout_least_squares_solution(X, y, p)
    # Independent oracle 1: least squares on the augmented system [X; sqrt((1-q)/q) Gamma] w = [y; 0].
    Xn, yn = X.numpy(), y.numpy()
    augmented = np.vstack([Xn, np.diag(np.sqrt((1 - q) / q * (Xn**2).sum(0)))])
    lstsq = np.linalg.lstsq(augmented, np.concatenate([yn, np.zeros(4)]), rcond=None)[0]
    # Independent oracle 2: autograd gradient of the loss enumerated over all 2^16 masks.
    grads = []
    for inverted, point in ((True, w_tilde), (False, w_tilde / q)):
        w = point.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(enumerate_dropout_least_squares(w, X, y, p, inverted=inverted), w)
        grads.append(float(grad.abs().max()) / float(((X.T @ y).abs()).max()))
    return [
        Evidence("symbolic", symbolic_ok, f"N={SYM_N}, D={SYM_D}: the unique stationary point of Srivastava's expected loss is (X'X + (1-q)/q diag X'X)^-1 X'y / q"),
        exact_evidence(max(_relative(w_tilde, torch.from_numpy(lstsq)), *grads),
               f"N=4, D=4, p={p}: vs numpy lstsq on the augmented system; gradients of the enumerated losses at w~* and w~*/q (relative)", tol=1e-10),
    ]


@claim(
    "linear-regression.ridge-equal-norms",
    title="With standardised columns, dropout is ridge with λ = N(1-q)/q",
    statement=r"If every column of $X$ has $\|x_j\|^2 = N$ (standardised features), the inverted-dropout minimiser is the ridge "
    r"solution $(X^\top X + \lambda I)^{-1}X^\top y$ with $\lambda = N(1-q)/q = Np/(1-p)$.",
    source="srivastava2014dropout",
    catalogue=("C2",),
)
def ridge_equal_norms() -> list[Evidence]:
    N, p = 30, 0.25
    X, y = _problem(56, N, 3, standardised=True)
    lam = equivalent_ridge_lambda(X, p)
    Xn, yn = X.numpy(), y.numpy()
    oracle = linalg.lstsq(np.vstack([Xn, math.sqrt(N * p / (1 - p)) * np.eye(3)]), np.concatenate([yn, np.zeros(3)]))[0]
    err = max(_relative(dropout_least_squares_solution(X, y, p), torch.from_numpy(oracle)), abs(lam - N * p / (1 - p)) / lam)
    return [exact_evidence(err, f"N={N}, standardised columns, p={p}: lambda = {lam:.4f} = N p/(1-p); dropout minimiser vs scipy lstsq ridge", tol=1e-10)]


def _closest_ridge(X: torch.Tensor, y: torch.Tensor, p: float) -> tuple[float, float]:
    """min over lambda >= 0 of ||ridge(lambda) - w~*|| / ||w~*||, and the minimising lambda."""
    target = dropout_least_squares_solution(X, y, p)

    def distance(log_lam: float) -> float:
        return float((ridge_solution(X, y, math.exp(log_lam)) - target).norm() / target.norm())

    grid = np.linspace(-10, 12, 221)
    start = grid[int(np.argmin([distance(v) for v in grid]))]
    best = optimize.minimize_scalar(distance, bounds=(start - 0.2, start + 0.2), method="bounded", options={"xatol": 1e-10})
    return min(float(best.fun), distance(-30.0)), math.exp(best.x)


@claim(
    "linear-regression.dropout-is-ridge",
    title="Refuted: dropout is ridge regression with a single λ",
    statement=r"(Catalogue N1; audit row P6 as usually read.) For linear regression, training with dropout on the inputs "
    r"is equivalent to $\min_w \|y - Xw\|^2 + \lambda\|w\|^2$ for some single $\lambda \ge 0$.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("N1", "P6", "C2"),
)
def dropout_is_ridge() -> list[Evidence]:
    lam, g1, g2, w1, w2 = sp.symbols("lambda Gamma1 Gamma2 w1 w2", positive=True)
    difference = sp.expand((1 - q_sym) / q_sym * (g1**2 * w1**2 + g2**2 * w2**2) - lam * (w1**2 + w2**2))
    solutions = sp.solve([difference.coeff(w1, 2), difference.coeff(w2, 2)], [lam], dict=True)
    X, y = _problem(57, 30, 3, COLUMN_SCALES)
    p = 0.4
    gap, best_lam = _closest_ridge(X, y, p)
    norms = ", ".join(f"{v:.1f}" for v in column_norms_squared(X).tolist())
    return [
        Evidence("symbolic", bool(solutions), f"D=2: penalty difference ((1-q)/q)(G1^2 w1^2 + G2^2 w2^2) - lambda|w|^2 vanishes for all w iff lambda solves {difference.coeff(w1, 2)} = 0 and "
                 f"{difference.coeff(w2, 2)} = 0: solutions {solutions} (none unless G1 = G2)"),
        Evidence("exact", gap < 1e-6, f"N=30, squared column norms {norms}, p={p}: closest ridge solution over all lambda (at {best_lam:.3g}) is {gap:.3f} away (relative) from the dropout minimiser",
                 estimate=gap, target=0.0, tolerance=1e-6),
    ]


@claim(
    "linear-regression.p6-corrected",
    title="Audit P6 corrected: the expected dropout loss is the loss plus a feature-scaled L2 penalty, exactly",
    statement=r"For a linear model with inverted dropout on the inputs, $\mathbb{E}[L_{\text{dropout}}](\tilde w) = L(\tilde w) + "
    r"\frac{p}{1-p}\|\Gamma\tilde w\|^2$ **exactly**, for every drop probability $p$ (not only small ones). It has the form "
    r"$L + \lambda\|\tilde w\|^2$ only when all columns have the same norm; for standardised columns $\lambda = Np/(1-p)$.",
    source="srivastava2014dropout,wager2013dropout",
    catalogue=("P6", "C1", "C2"),
)
def p6_corrected() -> list[Evidence]:
    p = 0.8  # a large drop probability: the identity is not a small-p approximation
    X, y = _problem(58, 4, 4, standardised=True)
    w = torch.tensor([0.3, -0.6, 0.2, 0.5], dtype=torch.float64)
    lam = equivalent_ridge_lambda(X, p)
    exact = enumerate_dropout_least_squares(w, X, y, p, inverted=True)
    ridge_form = ((y - X @ w) ** 2).sum() + lam * (w**2).sum()
    Xm, ym = _problem(59, 10, 3, COLUMN_SCALES)
    wm = torch.tensor([0.3, -0.6, 0.2], dtype=torch.float64)
    losses = ((ym - F.dropout(Xm.expand(200_000, -1, -1), p, generator=seeded_generator(60, "cpu")) @ wm) ** 2).sum(1)
    return [
        exact_evidence(_relative(exact, ridge_form), f"N=4, D=4 standardised, p={p}: all 2^16 masks vs L + lambda|w|^2 with lambda = {lam:.1f}"),
        check_mean(losses, dropout_least_squares_loss(wm, Xm, ym, p, inverted=True),
                   detail=f"N=10, D=3 unequal norms, p={p}: the package's inverted dropout vs L + (p/(1-p))|Gamma w|^2"),
    ]


GD_SETUP = {"N": 40, "scales": COLUMN_SCALES, "p": 0.3, "lr_fraction": 0.3, "steps": 2500, "burn_in": 800, "chains": 128, "seed": 61}


def gd_experiment() -> dict:
    """The run behind ``linear-regression.gd-converges``; the chapter plots the same numbers."""
    c = GD_SETUP
    X, y = _problem(c["seed"], c["N"], len(c["scales"]), c["scales"])
    H = expected_loss_hessian(X, c["p"])
    eigenvalues = torch.linalg.eigvalsh(H)
    lr = c["lr_fraction"] / float(eigenvalues.max())
    run = dropout_gradient_descent(X, y, c["p"], lr=lr, steps=c["steps"], burn_in=c["burn_in"], chains=c["chains"],
                                   generator=seeded_generator(c["seed"] + 1, "cpu"))
    w_star = dropout_least_squares_solution(X, y, c["p"])
    # The mean recursion is exact: E w_k - w* = (I - lr H)^k (w_0 - w*), w_0 = 0. Its average over the kept steps:
    contraction = torch.eye(len(w_star), dtype=torch.float64) - lr * H
    powers = torch.stack([torch.linalg.matrix_power(contraction, k) for k in range(c["burn_in"] + 1, c["steps"] + 1)])
    transient = (powers @ (-w_star)).mean(0)
    return {"X": X, "y": y, "lr": lr, "H": H, "run": run, "w_star": w_star, "transient": transient,
            "ols": torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1),
            "ridge": ridge_solution(X, y, c["N"] * c["p"] / (1 - c["p"]))}


@claim(
    "linear-regression.gd-converges",
    title="Gradient descent with sampled dropout masks averages to the closed-form minimiser",
    statement=r"Gradient descent on $\|y - \tilde X_k\tilde w\|^2$ with a fresh inverted-dropout mask each step (constant step size) "
    r"does not converge, but the average of its iterates does, to $\tilde w^* = (X^\top X + \frac{1-q}{q}\mathrm{diag}X^\top X)^{-1}X^\top y$ — "
    r"not to least squares and not to ridge with $\lambda = Np/(1-p)$.",
    source="srivastava2014dropout,wager2013dropout",
    catalogue=("C2",),
)
def gd_converges() -> list[Evidence]:
    e = gd_experiment()
    averages = e["run"].average
    # The standard error comes from only 128 chains: calibrate z on Student's t with n - 1
    # degrees of freedom, so the false alarm is 1e-6 for the t statistic, not only under the
    # normal approximation. ``false_alarm`` is the normal tail that yields this z.
    n, components = averages.shape
    z_t = float(stats.t.isf(DEFAULT_FALSE_ALARM / components / 2, n - 1))
    normal_equivalent = float(2 * components * stats.norm.sf(z_t))
    evidence = check_mean(averages, e["w_star"], false_alarm=normal_equivalent, detail=f"Student-t z for false alarm {DEFAULT_FALSE_ALARM:g}; "f"{GD_SETUP['chains']} independent chains, iterate average over steps "
                          f"{GD_SETUP['burn_in'] + 1}..{GD_SETUP['steps']}, lr = {GD_SETUP['lr_fraction']}/lambda_max(H)")
    stderr = averages.std(0) / math.sqrt(averages.shape[0])
    z = z_t
    transient_share = float((e["transient"].abs() / (z * stderr)).max())
    mean_average = averages.mean(0)
    others = {name: float(((mean_average - e[name]).abs() / (z * stderr)).max()) for name in ("ols", "ridge")}
    return [
        evidence,
        Evidence("experiment", transient_share < 0.01 and min(others.values()) > 10,
                 f"exact transient bias of the average = {transient_share:.1e} of the tolerance (negligible); distance to least squares "
                 f"{others['ols']:.0f} and to ridge(N p/(1-p)) {others['ridge']:.0f} tolerances (the check separates them)"),
    ]


def _gaussian_expectation(expr: sp.Expr, normals: list[sp.Symbol]) -> sp.Expr:
    """E[expr] for independent standard normals: odd moments 0, E z^2k = (2k-1)!!."""
    poly = sp.Poly(sp.expand(expr), *normals)
    total = sp.Integer(0)
    for powers, coefficient in poly.terms():
        moment = sp.Integer(1)
        for k in powers:
            moment *= 0 if k % 2 else sp.factorial2(k - 1)
        total += coefficient * moment
    return sp.expand(total)


@claim(
    "linear-regression.bishop-input-noise",
    title="Gaussian input noise is Tikhonov regularisation for least squares (Bishop)",
    statement=r"For $E_{nj}\sim\mathcal N(0,\sigma^2)$ i.i.d.: $\mathbb{E}_E\|y - (X+E)w\|^2 = \|y - Xw\|^2 + N\sigma^2\|w\|^2$, exactly.",
    source="bishop1995training",
    catalogue=("P13",),
)
def bishop_input_noise() -> list[Evidence]:
    s = _symbolic_problem()
    sigma = sp.Symbol("sigma", positive=True)
    Z = sp.Matrix(SYM_N, SYM_D, sp.symbols(f"z1:{SYM_N * SYM_D + 1}", real=True))
    expected = _gaussian_expectation(_squared_norm(s["y"] - (s["X"] + sigma * Z) * s["w"]), list(Z))
    stated = _squared_norm(s["y"] - s["X"] * s["w"]) + SYM_N * sigma**2 * _squared_norm(s["w"])
    X, y = _problem(63, 10, 3, COLUMN_SCALES)
    w = torch.tensor([0.7, -1.2, 0.4], dtype=torch.float64)
    sd = 0.6
    noise = sd * torch.randn(200_000, 10, 3, generator=seeded_generator(64, "cpu"), dtype=torch.float64)
    losses = ((y - (X + noise) @ w) ** 2).sum(1)
    return [
        Evidence("symbolic", sp.expand(expected - stated) == 0, f"N={SYM_N}, D={SYM_D}: Gaussian moments (odd 0, E z^2 = 1) give ||y - Xw||^2 + N sigma^2 ||w||^2"),
        check_mean(losses, gaussian_input_noise_loss(w, X, y, sd), detail=f"N=10, D=3, sigma={sd}"),
    ]


@claim(
    "linear-regression.gaussian-multiplicative-noise",
    title="Multiplicative Gaussian noise N(1, (1-q)/q) has the same expected loss as inverted dropout",
    statement=r"For $R_{nj}\sim\mathcal N(1,\sigma^2)$: $\mathbb{E}\|y - (R\ast X)w\|^2 = \|y - Xw\|^2 + \sigma^2\|\Gamma w\|^2$; with "
    r"$\sigma^2 = (1-q)/q = p/(1-p)$, the variance of $\mathrm{Bernoulli}(q)/q$, this is the inverted-dropout expected loss.",
    source="srivastava2014dropout",
    catalogue=("C3",),
)
def gaussian_multiplicative_noise() -> list[Evidence]:
    s = _symbolic_problem()
    Z = sp.Matrix(SYM_N, SYM_D, sp.symbols(f"z1:{SYM_N * SYM_D + 1}", real=True))
    noise = sp.ones(SYM_N, SYM_D) + sp.sqrt((1 - q_sym) / q_sym) * Z
    gaussian = _gaussian_expectation(_squared_norm(s["y"] - noise.multiply_elementwise(s["X"]) * s["w"]), list(Z))
    bernoulli = bernoulli_expectation(_squared_norm(s["y"] - (s["R"] / q_sym).multiply_elementwise(s["X"]) * s["w"]), list(s["R"]), q_sym)
    X, y = _problem(65, 4, 4, COLUMN_SCALES + (1.5,))
    w = torch.tensor([0.7, -1.2, 0.4, 0.9], dtype=torch.float64)
    p = 0.35
    variance = p / (1 - p)
    bernoulli_exact = enumerate_dropout_least_squares(w, X, y, p, inverted=True)
    R = 1 + math.sqrt(variance) * torch.randn(200_000, 4, 4, generator=seeded_generator(66, "cpu"), dtype=torch.float64)
    losses = ((y - (R * X) @ w) ** 2).sum(1)
    return [
        Evidence("symbolic", sp.simplify(gaussian - bernoulli) == 0, f"N={SYM_N}, D={SYM_D}: Gaussian expectation with sigma^2 = (1-q)/q minus the Bernoulli one is 0"),
        exact_evidence(_relative(multiplicative_gaussian_noise_loss(w, X, y, variance), bernoulli_exact),
               f"N=4, D=4, p={p}: closed form with sigma^2 = p/(1-p) vs inverted dropout over all 2^16 masks"),
        check_mean(losses, bernoulli_exact, detail="sampled Gaussian multiplicative noise vs the exact Bernoulli expectation"),
    ]
