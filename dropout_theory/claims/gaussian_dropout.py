"""Claims of the chapter *Gaussian dropout* (book/gaussian-dropout.md).

Catalogue items C3, H1, H2, H3. ``p`` is the drop probability, ``q = 1 - p``, and
``alpha = p/(1-p)`` the Gaussian noise variance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp
import torch
from scipy import integrate, stats
from sympy import stats as sps

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.symbolic import enumerated_expectation, gates, is_zero

p_sym = sp.Symbol("p", positive=True)


def bernoulli_and_gaussian_central_moments(order: int) -> tuple[sp.Expr, sp.Expr]:
    """Central moment of the given order of ``r/q`` (``r ~ Bern(q)``) and of ``N(1, p/(1-p))``, in ``p``."""
    (r,) = gates("r", 1)
    q = 1 - p_sym
    bernoulli = sp.factor(sp.simplify(enumerated_expectation((r / q - 1) ** order, [r], q)))
    xi = sps.Normal("xi", 1, sp.sqrt(p_sym / q))
    gaussian = sp.factor(sp.simplify(sps.E((xi - 1) ** order)))
    return bernoulli, gaussian


@claim(
    "gaussian-dropout.moments-match-bernoulli",
    title="Gaussian dropout matches the mean and variance of inverted dropout",
    statement=r"Multiplicative noise $\xi \sim \mathcal N(1, \alpha)$ with $\alpha = p/(1-p)$ has the same mean (1) and "
    r"variance ($p/(1-p)$) as the inverted Bernoulli gate $r/q$, $r \sim \mathrm{Bernoulli}(q)$; so "
    r"$y = x\xi$ has $\mathbb{E}y = x$ and $\mathrm{Var}\,y = x^2 p/(1-p)$, like inverted dropout.",
    source="srivastava2014dropout,kingma2015variational",
    catalogue=("C3", "H1"),
)
def moments_match_bernoulli() -> list[Evidence]:
    (r,) = gates("r", 1)
    q = 1 - p_sym
    bern_mean = enumerated_expectation(r / q, [r], q)
    bern_var = enumerated_expectation((r / q) ** 2, [r], q) - bern_mean**2
    xi = sps.Normal("xi", 1, sp.sqrt(p_sym / q))
    same = is_zero(bern_mean - sps.E(xi)) and is_zero(bern_var - sps.variance(xi))
    p = 0.3
    x = torch.linspace(-2.0, 3.0, 6, dtype=torch.float64)
    samples = F.gaussian_dropout(x.expand(200_000, -1), p, generator=seeded_generator(41))
    return [
        Evidence("symbolic", same, f"Bernoulli r/q: mean {sp.simplify(bern_mean)}, variance {sp.factor(bern_var)}; "
                 f"N(1, p/(1-p)): mean {sps.E(xi)}, variance {sp.factor(sps.variance(xi))}"),
        check_mean(samples, x, detail=f"mean of the package's gaussian_dropout at p={p}"),
        check_variance(samples, x**2 * p / (1 - p), detail="variance x^2 p/(1-p)"),
    ]


@claim(
    "gaussian-dropout.higher-moments-differ",
    title="...but not the third and fourth moments",
    statement=r"The third central moment of $r/q$ is $p(2p-1)/(1-p)^2$ (the Gaussian's is 0), and the fourth is "
    r"$p(p^3 + (1-p)^3)/(1-p)^3$ (the Gaussian's is $3p^2/(1-p)^2$). The third agree only at $p = 1/2$, the fourth "
    r"only at $p = (1 \pm 1/\sqrt3)/2$: no $p \in (0, 1)$ matches both.",
    source="kingma2015variational",
    catalogue=("H1",),
)
def higher_moments_differ() -> list[Evidence]:
    b3, g3 = bernoulli_and_gaussian_central_moments(3)
    b4, g4 = bernoulli_and_gaussian_central_moments(4)
    q = 1 - p_sym
    formulas = is_zero(b3 - p_sym * (2 * p_sym - 1) / q**2) and g3 == 0 and is_zero(b4 - p_sym * (p_sym**3 + q**3) / q**3) \
        and is_zero(g4 - 3 * p_sym**2 / q**2)
    unit = sp.Interval.open(0, 1)
    third = sp.solveset(sp.numer(sp.together(b3 - g3)), p_sym, unit)
    fourth = sp.solveset(sp.numer(sp.together(b4 - g4)), p_sym, unit)
    both = sp.Intersection(third, fourth)
    p = 0.3
    bern = F.dropout(torch.ones(400_000, dtype=torch.float64), p, generator=seeded_generator(42))
    gauss = F.gaussian_dropout(torch.ones(400_000, dtype=torch.float64), p, generator=seeded_generator(43))
    target3 = p * (2 * p - 1) / (1 - p) ** 2
    return [
        Evidence("symbolic", formulas and third == sp.FiniteSet(sp.Rational(1, 2)) and both == sp.EmptySet,
                 f"third: {b3} vs {g3}, equal on (0,1) at {third}; fourth: {b4} vs {g4}, equal at {fourth}; both: {both}"),
        check_mean((bern - 1) ** 3, target3, detail=f"third central moment of the package's inverted dropout, p={p}"),
        check_mean((gauss - 1) ** 3, 0.0, detail=f"third central moment of the package's gaussian_dropout, p={p}"),
    ]


@claim(
    "gaussian-dropout.local-reparameterisation",
    title="The local reparameterisation trick",
    statement=r"For $B = AW$ with independent $w_{ij} \sim \mathcal N(\mu_{ij}, \sigma^2_{ij})$ and fixed $A$, "
    r"$b_{mj} \sim \mathcal N(\gamma_{mj}, \delta_{mj})$ with $\gamma_{mj} = \sum_i a_{mi}\mu_{ij}$ and "
    r"$\delta_{mj} = \sum_i a_{mi}^2\sigma^2_{ij}$: sampling $b$ directly has the same per-example distribution "
    r"as sampling a weight matrix per example.",
    source="kingma2015variational",
    catalogue=("H2",),
)
def local_reparameterisation() -> list[Evidence]:
    d = 2  # sympy's variance of a sum is slow; E[(b - gamma)^2] of the expanded square is quick
    a = sp.symbols(f"a1:{d + 1}", real=True)
    mu = sp.symbols(f"mu1:{d + 1}", real=True)
    sigma = sp.symbols(f"sigma1:{d + 1}", positive=True)
    w = [sps.Normal(f"w{i}", mu[i], sigma[i]) for i in range(d)]
    b = sum(ai * wi for ai, wi in zip(a, w))
    gamma = sum(ai * mi for ai, mi in zip(a, mu))
    delta = sum(ai**2 * si**2 for ai, si in zip(a, sigma))
    second = sp.expand(sps.E(sp.expand((b - gamma) ** 2)))
    symbolic_ok = is_zero(sps.E(b) - gamma) and is_zero(second - delta)
    g = seeded_generator(44)
    A = torch.randn(4, 6, generator=g, dtype=torch.float64)
    M = torch.randn(3, 6, generator=g, dtype=torch.float64)
    S2 = torch.rand(3, 6, generator=g, dtype=torch.float64) * 0.5
    n = 50_000
    rows = A.expand(n, -1, -1)
    local = F.local_reparameterised_linear(rows, M, S2, generator=seeded_generator(45)).reshape(n, -1)
    direct = F.weight_sampled_linear(rows, M, S2, chunk_size=8192, generator=seeded_generator(46)).reshape(n, -1)
    gamma_t = (A @ M.T).reshape(-1)
    delta_t = ((A * A) @ S2.T).reshape(-1)
    return [
        Evidence("symbolic", symbolic_ok, f"d={d}: E b = {sps.E(b)}, Var b = {second}"),
        check_mean(local, gamma_t, detail="local reparameterisation: mean of 4x3 pre-activations vs gamma"),
        check_variance(local, delta_t, detail="local reparameterisation: variance vs delta"),
        check_mean(direct, gamma_t, detail="a sampled weight matrix per example: mean vs gamma"),
        check_variance(direct, delta_t, detail="a sampled weight matrix per example: variance vs delta"),
    ]


#: Kingma, Salimans & Welling (2015), eq. (C): cubic fit of the alpha-dependent part of -KL.
KINGMA_KL_COEFFICIENTS = (1.16145124, -1.50204118, 0.58629921)
#: Molchanov, Ashukha & Vetrov (2017): sigmoid fit of -KL.
MOLCHANOV_KL_COEFFICIENTS = (0.63576, 1.87320, 1.48695)


def neg_kl_log_uniform(alpha: float) -> float:
    r""":math:`\tfrac12\log\alpha - \mathbb{E}\log|\varepsilon|`, :math:`\varepsilon \sim \mathcal N(1, \alpha)`, by quadrature.

    Up to an additive constant (the prior is improper) this is :math:`-\mathrm{KL}(q\,\|\,p)` for
    :math:`q = \mathcal N(\theta, \alpha\theta^2)` and the log-uniform prior :math:`p(w) \propto 1/|w|`.
    """
    s = math.sqrt(alpha)
    lo, hi = 1.0 - 40.0 * s, 1.0 + 40.0 * s
    points = [0.0, 1.0] if lo < 0.0 else [1.0]
    expected_log, _ = integrate.quad(lambda e: math.log(abs(e)) * stats.norm.pdf(e, 1.0, s) if e != 0.0 else 0.0,
                                     lo, hi, points=points, limit=400)
    return 0.5 * math.log(alpha) - expected_log


def kingma_neg_kl(alpha: float) -> float:
    c1, c2, c3 = KINGMA_KL_COEFFICIENTS
    return 0.5 * math.log(alpha) + c1 * alpha + c2 * alpha**2 + c3 * alpha**3


def molchanov_neg_kl(alpha: float) -> float:
    k1, k2, k3 = MOLCHANOV_KL_COEFFICIENTS
    return k1 / (1.0 + math.exp(-(k2 + k3 * math.log(alpha)))) - 0.5 * math.log1p(1.0 / alpha) - k1


def fit_spread(fit: Callable[[float], float], alphas: Sequence[float]) -> float:
    """max - min over ``alphas`` of fit - exact: 0 when the fit is exact up to a constant."""
    gaps = [fit(a) - neg_kl_log_uniform(a) for a in alphas]
    return max(gaps) - min(gaps)


@claim(
    "gaussian-dropout.kl-approximations",
    title="The KL approximations of variational dropout, and where they hold",
    statement=r"For $q = \mathcal N(\theta, \alpha\theta^2)$ and the log-uniform prior, "
    r"$-\mathrm{KL} = \tfrac12\log\alpha - \mathbb{E}_{\varepsilon\sim\mathcal N(1,\alpha)}\log|\varepsilon| + \text{const}$. "
    r"Kingma et al.'s fit $\tfrac12\log\alpha + c_1\alpha + c_2\alpha^2 + c_3\alpha^3$ follows it up to a constant within "
    r"0.04 for $10^{-4} \le \alpha \le 1$, and is useless beyond (off by more than 0.9 at $\alpha = 2$); Molchanov et al.'s "
    r"sigmoid fit stays within 0.015 for $10^{-4} \le \alpha \le 10^4$.",
    source="kingma2015variational,molchanov2017variational",
    catalogue=("H3",),
)
def kl_approximations() -> list[Evidence]:
    small = [float(a) for a in 10.0 ** np.linspace(-4, 0, 17)]
    wide = [float(a) for a in 10.0 ** np.linspace(-4, 4, 33)]
    kingma_small = fit_spread(kingma_neg_kl, small)
    kingma_two = fit_spread(kingma_neg_kl, [1e-4, 2.0])
    molchanov = fit_spread(molchanov_neg_kl, wide)
    return [
        Evidence("exact", kingma_small <= 0.04, "Kingma's cubic vs quadrature, 17 values of alpha in [1e-4, 1]: spread of the gap",
                 estimate=kingma_small, target=0.0, tolerance=0.04),
        Evidence("exact", kingma_two > 0.9, "Kingma's cubic: gap at alpha = 2 relative to alpha = 1e-4", estimate=kingma_two, target=0.9),
        Evidence("exact", molchanov <= 0.015, "Molchanov's sigmoid fit, 33 values of alpha in [1e-4, 1e4]: spread of the gap",
                 estimate=molchanov, target=0.0, tolerance=0.015),
    ]
