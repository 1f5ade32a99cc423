"""Claims of the chapter *Fast dropout* (book/fast-dropout.md).

Catalogue items F1, F2. ``p`` is the drop probability and ``q = 1 - p``; Wang & Manning
(2013) write ``p`` for the keep probability. The sums here are keep-scaled (not inverted),
as in Wang & Manning: ``S = sum_i w_i x_i z_i``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import integrate, optimize, special, stats

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.functional.fast import PROBIT_SLOPE_SQUARED
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.symbolic import bernoulli_expectation, gates, is_zero, keep_probabilities

EXACT_TOL = 1e-12
QUAD_TOL = 1e-10
#: Shevtsova (2010): Berry-Esseen constant for sums of independent, non-identically distributed terms.
BERRY_ESSEEN_CONSTANT = 0.5600


def sigmoid_normal_mean_quad(mu: float, s: float) -> float:
    """E sigmoid(Z), Z ~ N(mu, s^2), by adaptive quadrature (an oracle independent of the package's rules).

    Integrates over the standardised variable t = (z - mu)/s, telling quad where the sigmoid's
    step lies (t = -mu/s), so that a narrow or a wide Gaussian is handled alike.
    """
    if s <= 0:
        return float(special.expit(mu))
    value, _ = integrate.quad(lambda t: special.expit(mu + s * t) * stats.norm.pdf(t), -40.0, 40.0,
                              points=[-mu / s] if abs(mu / s) < 40 else None, epsabs=1e-13, epsrel=1e-13, limit=500)
    return value


def probit_sup_error() -> tuple[float, float]:
    r""":math:`\sup_x |\sigma(x) - \Phi(\sqrt{\pi/8}\,x)|` and where it is attained (grid, then refined)."""
    lam = math.sqrt(PROBIT_SLOPE_SQUARED)
    gap = lambda x: abs(special.expit(x) - stats.norm.cdf(lam * x))  # noqa: E731
    grid = np.linspace(0.0, 20.0, 200_001)  # the gap is odd-symmetric, so x >= 0 suffices
    start = grid[np.argmax(np.abs(special.expit(grid) - stats.norm.cdf(lam * grid)))]
    best = optimize.minimize_scalar(lambda x: -gap(x), bounds=(max(0.0, start - 1e-3), start + 1e-3), method="bounded",
                                    options={"xatol": 1e-12})
    return gap(best.x), float(best.x)


def kolmogorov_distance_to_normal(values: torch.Tensor, probs: torch.Tensor, mean: float, std: float) -> float:
    """sup_t |F_S(t) - Phi((t - mean)/std)| for a discrete S (values with probabilities), exactly:
    the sup is attained at a jump, from the left or from the right."""
    order = torch.argsort(values)
    v, w = values[order].numpy(), probs[order].numpy()
    # merge equal values so that every jump is one step
    uniq, inverse = np.unique(v, return_inverse=True)
    mass = np.bincount(inverse, weights=w)
    right = np.cumsum(mass)
    left = right - mass
    phi = stats.norm.cdf((uniq - mean) / std)
    return float(max(np.abs(right - phi).max(), np.abs(left - phi).max()))


@claim(
    "fast-dropout.sum-moments",
    title="Exact moments of the dropped-out sum",
    statement=r"For $S = \sum_i w_i x_i z_i$ with independent $z_i \sim \mathrm{Bernoulli}(q_i)$: "
    r"$\mathbb{E}S = \sum_i q_i w_i x_i$ and $\mathrm{Var}\,S = \sum_i q_i(1-q_i) w_i^2 x_i^2$.",
    source="wang2013fast",
    catalogue=("F1",),
)
def sum_moments() -> list[Evidence]:
    d = 3
    z = gates("z", d)
    qs = keep_probabilities("q", d)
    w = sp.symbols(f"w1:{d + 1}", real=True)
    x = sp.symbols(f"x1:{d + 1}", real=True)
    S = sum(zi * wi * xi for zi, wi, xi in zip(z, w, x))
    mean = bernoulli_expectation(S, z, qs)
    var = bernoulli_expectation(S**2, z, qs) - mean**2
    sym_ok = is_zero(mean - sum(q * wi * xi for q, wi, xi in zip(qs, w, x))) and is_zero(
        var - sum(q * (1 - q) * wi**2 * xi**2 for q, wi, xi in zip(qs, w, x)))
    d = 12
    g = seeded_generator(91)
    xv = torch.randn(d, generator=g, dtype=torch.float64)
    W = torch.randn(1, d, generator=g, dtype=torch.float64)
    p = torch.linspace(0.05, 0.8, d, dtype=torch.float64)  # a different drop probability per input
    masks = all_masks(d)
    probs = mask_probabilities(masks, 1 - p)
    sums = (masks * xv) @ W[0]
    exact_mean = (probs * sums).sum()
    exact_var = (probs * (sums - exact_mean) ** 2).sum()
    mean_t, var_t = F.dropped_sum_moments(xv, W, p)
    err = max(abs(exact_mean - mean_t[0]).item(), abs(exact_var - var_t[0]).item())
    mc = F.dropout(xv.expand(200_000, -1), 0.3, inverted=False, generator=seeded_generator(92)) @ W[0]
    mean_mc, var_mc = F.dropped_sum_moments(xv, W, 0.3)
    return [
        Evidence("symbolic", sym_ok, f"d=3 with per-input q_i: E S = {mean}; Var S = {sp.expand(var)}"),
        Evidence("exact", err <= EXACT_TOL, f"d={d}, per-input p from .05 to .8, all 2^{d} masks vs dropped_sum_moments",
                 estimate=err, target=0.0, tolerance=EXACT_TOL),
        check_mean(mc, mean_mc[0].item(), detail="sums of the package's non-inverted dropout, p=0.3: mean"),
        check_variance(mc, var_mc[0].item(), detail="variance"),
    ]


@claim(
    "fast-dropout.gaussian-approximation",
    title="How good the Gaussian approximation of the sum is: a Berry-Esseen bound",
    statement=r"With $Z \sim \mathcal N(\mu_S, s_S^2)$ of the same moments, $\sup_t|F_S(t) - F_Z(t)| \le "
    r"C\sum_i \mathbb{E}|X_i - \mathbb{E}X_i|^3 / s_S^3$ ($X_i = w_i x_i z_i$, $C = 0.56$), and "
    r"$|\mathbb{E}\,\sigma(S) - \mathbb{E}\,\sigma(Z)| \le \sup_t|F_S(t) - F_Z(t)|$ because $\sigma$ is increasing "
    r"from 0 to 1. For terms of comparable size the bound shrinks like $d^{-1/2}$.",
    source="wang2013fast,shevtsova2010improvement",
    catalogue=("F1",),
)
def gaussian_approximation() -> list[Evidence]:
    p, q = 0.5, 0.5
    rows, ok = [], True
    for d in (4, 8, 16):
        g = seeded_generator(93)
        xv = torch.randn(d, generator=g, dtype=torch.float64)
        w = torch.randn(d, generator=g, dtype=torch.float64)
        masks = all_masks(d)
        probs = mask_probabilities(masks, q)
        sums = masks @ (w * xv)
        mean_t, var_t = F.dropped_sum_moments(xv, w[None, :], p)
        mean, std = mean_t.item(), var_t.sqrt().item()
        c = (w * xv).abs()
        rho = (q * (1 - q) * ((1 - q) ** 2 + q**2) * c**3).sum().item()  # E|X_i - E X_i|^3 for a two-point X_i
        bound = BERRY_ESSEEN_CONSTANT * rho / std**3
        ks = kolmogorov_distance_to_normal(sums, probs, mean, std)
        exact_sig = (probs * torch.sigmoid(sums)).sum().item()
        gauss_sig = F.gaussian_sigmoid_mean(mean_t, var_t).item()
        gap = abs(exact_sig - gauss_sig)
        ok = ok and ks <= bound and gap <= ks
        rows.append(f"d={d}: |E sig(S) - E sig(Z)| = {gap:.2e} <= KS = {ks:.3f} <= bound {bound:.3f}")
    return [Evidence("exact", ok, f"p={p}, exact distribution of S over all masks; " + "; ".join(rows))]


@claim(
    "fast-dropout.probit-approximation",
    title="The probit approximation of the expected sigmoid",
    statement=r"For $Z \sim \mathcal N(\mu, s^2)$, $\mathbb{E}\,\sigma(Z) \approx \sigma(\mu/\sqrt{1+\pi s^2/8})$, with error "
    r"at most $2\sup_x|\sigma(x) - \Phi(\sqrt{\pi/8}\,x)| \approx 0.035$ for every $(\mu, s)$; at $\mu = 0.7$, $s = 1.3$ the "
    r"exact value is $0.62922$, the approximation $0.63244$, and the naive $\sigma(\mu) = 0.66819$.",
    source="wang2013fast",
    catalogue=("F2",),
)
def probit_approximation() -> list[Evidence]:
    mu, s = 0.7, 1.3
    exact_quad = sigmoid_normal_mean_quad(mu, s)
    mu_t, var_t = torch.tensor(mu, dtype=torch.float64), torch.tensor(s * s, dtype=torch.float64)
    exact_gh = F.gaussian_sigmoid_mean(mu_t, var_t).item()
    approx = F.probit_sigmoid_mean(mu_t, var_t).item()
    naive = float(special.expit(mu))
    quoted_ok = abs(exact_quad - 0.62922) <= 5e-6 and abs(approx - 0.63244) <= 5e-6 and abs(naive - 0.66819) <= 5e-6
    eps, where = probit_sup_error()
    mus, ss = torch.meshgrid(torch.linspace(-6, 6, 61, dtype=torch.float64), torch.linspace(0.0, 8.0, 41, dtype=torch.float64), indexing="ij")
    grid_err = (F.gaussian_sigmoid_mean(mus, ss**2) - F.probit_sigmoid_mean(mus, ss**2)).abs().max().item()
    z = mu + s * torch.randn(400_000, generator=seeded_generator(94), dtype=torch.float64)
    return [
        Evidence("exact", abs(exact_quad - exact_gh) <= QUAD_TOL and quoted_ok,
                 f"mu={mu}, s={s}: adaptive quadrature {exact_quad:.7f}, Gauss-Hermite {exact_gh:.7f}, probit {approx:.7f}, "
                 f"naive {naive:.7f}; the quoted .62922/.63244/.66819 agree to 5 decimals: {quoted_ok}",
                 estimate=abs(exact_quad - exact_gh), target=0.0, tolerance=QUAD_TOL),
        Evidence("exact", grid_err <= 2 * eps and abs(approx - exact_quad) < abs(naive - exact_quad),
                 f"sup|sigma(x) - Phi(sqrt(pi/8) x)| = {eps:.5f} at x = {where:.4f}; max probit error on a 61x41 (mu, s) grid "
                 f"= {grid_err:.5f} <= 2 sup = {2 * eps:.5f}; probit beats naive at (.7, 1.3)",
                 estimate=grid_err, target=0.0, tolerance=2 * eps),
        check_mean(torch.sigmoid(z), exact_quad, detail="Monte Carlo E sigma(Z) vs the quadrature value"),
    ]


@claim(
    "fast-dropout.probit-identity",
    title="The exact identity behind the probit trick",
    statement=r"$\int \Phi(x)\,\mathcal N(x; \mu, s^2)\,dx = \Phi\bigl(\mu/\sqrt{1+s^2}\bigr)$: it is "
    r"$P(Y \le X)$ for independent $Y \sim \mathcal N(0,1)$, $X \sim \mathcal N(\mu, s^2)$, and $X - Y \sim \mathcal N(\mu, 1+s^2)$.",
    source="wang2013fast",
    catalogue=("F2",),
)
def probit_identity() -> list[Evidence]:
    worst = 0.0
    for mu in (-2.0, -0.3, 0.0, 0.7, 3.0):
        for s in (0.1, 0.5, 1.3, 4.0):
            value, _ = integrate.quad(lambda x: stats.norm.cdf(x) * stats.norm.pdf(x, mu, s), -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)
            worst = max(worst, abs(value - stats.norm.cdf(mu / math.sqrt(1 + s * s))))
    g = seeded_generator(95)
    mu, s, n = 0.7, 1.3, 400_000
    x = mu + s * torch.randn(n, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    return [
        Evidence("exact", worst <= QUAD_TOL, "adaptive quadrature on a 5x4 grid of (mu, s)", estimate=worst, target=0.0, tolerance=QUAD_TOL),
        check_mean((y <= x).double(), float(stats.norm.cdf(mu / math.sqrt(1 + s * s))), detail=f"P(Y <= X) by sampling, mu={mu}, s={s}"),
    ]
