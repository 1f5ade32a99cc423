"""Claims of the chapter *Alpha dropout* (book/alpha-dropout.md).

Catalogue items I and N8. ``p`` is the drop probability and ``q = 1 - p``; Klambauer et al.
write ``q`` for the keep probability too. ``alpha'`` is the value dropped units take.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import integrate, stats

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.functional.alpha import ALPHA_PRIME, SELU_ALPHA, SELU_LAMBDA
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.symbolic import enumerated_expectation, gates, is_zero

EXACT_TOL = 1e-12
q_sym = sp.Symbol("q", positive=True)
a_sym, b_sym = sp.symbols("a b", real=True)
mu_sym = sp.Symbol("mu", real=True)
nu_sym = sp.Symbol("nu", positive=True)
alpha_prime_sym = sp.Symbol("alpha'", negative=True)


def affine_moments(a: sp.Expr, b: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""Mean and variance of :math:`y = a(xd + \alpha'(1-d)) + b`, :math:`x` with moments :math:`(\mu,\nu)`
    independent of :math:`d \sim \mathrm{Bern}(q)`: enumerate :math:`d`, then replace :math:`x, x^2` by moments."""
    (d,) = gates("d", 1)
    x, x2 = sp.symbols("x x2", real=True)
    y = a * (x * d + alpha_prime_sym * (1 - d)) + b
    moments = {x2: nu_sym + mu_sym**2, x: mu_sym}
    mean = enumerated_expectation(y, [d], q_sym).subs(moments)
    second = enumerated_expectation(sp.expand(y**2).subs(x**2, x2), [d], q_sym).subs(moments)
    return sp.simplify(mean), sp.simplify(second - mean**2)


def derive_affine() -> tuple[sp.Expr, sp.Expr]:
    """Solve ``mean = mu``, ``variance = nu`` for ``a > 0`` and ``b``."""
    mean, var = affine_moments(a_sym, b_sym)
    b_of_a = sp.solve(sp.Eq(mean, mu_sym), b_sym)[0]
    a_solutions = sp.solve(sp.Eq(var.subs(b_sym, b_of_a), nu_sym), a_sym)
    a_pos = [s for s in a_solutions if s.subs({q_sym: sp.Rational(1, 2), mu_sym: 0, nu_sym: 1, alpha_prime_sym: -1}) > 0]
    a = sp.simplify(a_pos[0])
    return a, sp.simplify(b_of_a.subs(a_sym, a))


def _two_point_exact(p: float, mean: float, variance: float) -> tuple[float, float]:
    """Exact output mean and variance of the package's op for x = mean ± sqrt(variance) (each 1/2),
    enumerating both values of x and both mask values."""
    x = torch.tensor([mean - math.sqrt(variance), mean + math.sqrt(variance)] * 2, dtype=torch.float64)
    d = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    w = torch.tensor([p / 2, p / 2, (1 - p) / 2, (1 - p) / 2], dtype=torch.float64)
    y = F.apply_alpha_dropout_mask(x, d, p, mean=mean, variance=variance)
    m = (w * y).sum().item()
    return m, (w * (y - m) ** 2).sum().item()


@claim(
    "alpha-dropout.selu-constants",
    title="The SELU constants and the dropped value",
    statement=r"$\lambda \approx 1.0507$ and $\alpha \approx 1.6733$ make $\mathcal N(0,1)$ a fixed point of the SELU "
    r"($\mathbb{E}\,\mathrm{selu}(Z) = 0$, $\mathbb{E}\,\mathrm{selu}(Z)^2 = 1$), and a dropped unit takes the SELU's "
    r"limit at $-\infty$, $\alpha' = -\lambda\alpha \approx -1.7581$.",
    source="klambauer2017self",
    catalogue=("I",),
)
def selu_constants() -> list[Evidence]:
    x = sp.Symbol("x", real=True)
    lam, alp = sp.symbols("lambda alpha", positive=True)
    limit = sp.limit(lam * alp * (sp.exp(x) - 1), x, -sp.oo)
    def selu(z: float) -> float:
        return SELU_LAMBDA * (z if z > 0 else SELU_ALPHA * math.expm1(z))
    pdf = stats.norm.pdf
    m1 = sum(integrate.quad(lambda z: selu(z) * pdf(z), lo, hi, epsabs=1e-14, epsrel=1e-14)[0] for lo, hi in ((-np.inf, 0), (0, np.inf)))
    m2 = sum(integrate.quad(lambda z: selu(z) ** 2 * pdf(z), lo, hi, epsabs=1e-14, epsrel=1e-14)[0] for lo, hi in ((-np.inf, 0), (0, np.inf)))
    err = max(abs(m1), abs(m2 - 1))
    tol = 1e-9  # quadrature accuracy, far above the constants' 1e-16 rounding
    return [
        Evidence("symbolic", limit == -lam * alp and ALPHA_PRIME == -SELU_LAMBDA * SELU_ALPHA,
                 f"lim_(x->-oo) lambda alpha (e^x - 1) = {limit}; alpha' = {ALPHA_PRIME!r}"),
        Evidence("exact", err <= tol, f"quadrature: E selu(Z) = {m1:.2e}, E selu(Z)^2 - 1 = {m2 - 1:.2e}",
                 estimate=err, target=0.0, tolerance=tol),
    ]


@claim(
    "alpha-dropout.affine-constants",
    title="The affine constants, derived",
    statement=r"For standardised input (mean 0, variance 1), $y = a(xd + \alpha'(1-d)) + b$ has mean 0 and variance 1 "
    r"exactly when $a = (q + \alpha'^2 q(1-q))^{-1/2}$ and $b = -a(1-q)\alpha'$ ($a > 0$). At $p = 0.1$: "
    r"$a \approx 0.921285$, $b \approx 0.161971$.",
    source="klambauer2017self",
    catalogue=("I",),
)
def affine_constants() -> list[Evidence]:
    a, b = derive_affine()
    a01, b01 = a.subs({mu_sym: 0, nu_sym: 1}), b.subs({mu_sym: 0, nu_sym: 1})
    # both sides are positive, so comparing squares is enough (sympy will not merge the radicals)
    formula_ok = is_zero(a01**2 - 1 / (q_sym + alpha_prime_sym**2 * q_sym * (1 - q_sym))) \
        and is_zero(b01 + a01 * (1 - q_sym) * alpha_prime_sym)
    at = {q_sym: sp.Rational(9, 10), alpha_prime_sym: sp.Float(ALPHA_PRIME, 30)}
    a_num, b_num = float(a01.subs(at)), float(b01.subs(at))
    pkg_a, pkg_b = F.alpha_dropout_affine(0.1)
    err = max(abs(pkg_a - a_num), abs(pkg_b - b_num))
    quoted = max(abs(a_num - 0.921285), abs(b_num - 0.161971))
    return [
        Evidence("symbolic", formula_ok, f"solved for mean 0 / variance 1: a = {sp.simplify(a01)}, b = {sp.simplify(b01)}"),
        Evidence("exact", err <= EXACT_TOL and quoted <= 5e-7,
                 f"p=0.1: sympy a={a_num:.9f}, b={b_num:.9f}; package ({pkg_a:.9f}, {pkg_b:.9f}); "
                 f"quoted 0.921285, 0.161971 agree to 6 decimals: {quoted <= 5e-7}",
                 estimate=err, target=0.0, tolerance=EXACT_TOL),
    ]


@claim(
    "alpha-dropout.general-moments",
    title="Keeping any mean and variance",
    statement=r"For input mean $\mu$ and variance $\nu$, $a = \sqrt{\nu/(q\nu + q(1-q)(\mu-\alpha')^2)}$ and "
    r"$b = \mu - a(q\mu + (1-q)\alpha')$ keep both exactly. The form $a = (q\nu + q(1-q)(\mu-\alpha')^2)^{-1/2}$ "
    r"normalises the variance to 1 instead; the two agree only for $\nu = 1$.",
    source="klambauer2017self",
    catalogue=("I",),
)
def general_moments() -> list[Evidence]:
    a, b = derive_affine()
    target_a = sp.sqrt(nu_sym / (q_sym * nu_sym + q_sym * (1 - q_sym) * (mu_sym - alpha_prime_sym) ** 2))
    target_b = mu_sym - target_a * (q_sym * mu_sym + (1 - q_sym) * alpha_prime_sym)
    unit_a = (q_sym * nu_sym + q_sym * (1 - q_sym) * (mu_sym - alpha_prime_sym) ** 2) ** sp.Rational(-1, 2)
    _, unit_var = affine_moments(unit_a, sp.Integer(0))
    sym_ok = is_zero(a - target_a) and is_zero(b - target_b) and is_zero(unit_var - 1)
    worst = 0.0
    for p, mean, variance in ((0.1, 0.5, 2.0), (0.3, -0.7, 0.4), (0.05, 0.0, 1.0)):
        m, v = _two_point_exact(p, mean, variance)
        worst = max(worst, abs(m - mean), abs(v - variance))
    p, mean, variance = 0.2, 0.5, 2.0
    x = mean + math.sqrt(variance) * torch.randn(400_000, generator=seeded_generator(51), dtype=torch.float64)
    y = F.alpha_dropout(x, p, mean=mean, variance=variance, generator=seeded_generator(52))
    return [
        Evidence("symbolic", sym_ok, f"derived a = {a}; the variance-1 form gives output variance {sp.simplify(unit_var)}"),
        Evidence("exact", worst <= EXACT_TOL, "two-point inputs x = mu ± sqrt(nu), all (x, d) pairs through the package's op, "
                 "(p, mu, nu) in {(.1,.5,2), (.3,-.7,.4), (.05,0,1)}: max error of output mean/variance",
                 estimate=worst, target=0.0, tolerance=EXACT_TOL),
        check_mean(y, mean, detail=f"Gaussian input N({mean}, {variance}) at p={p}: output mean"),
        check_variance(y, variance, detail="output variance"),
    ]


def torch_alpha_dropout(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """``torch.nn.functional.alpha_dropout`` under a fixed seed, without disturbing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.functional.alpha_dropout(x, p, True)


@claim(
    "alpha-dropout.torch-parity",
    title="Agreement with torch.nn.functional.alpha_dropout",
    statement=r"For the same mask the package's alpha dropout gives torch's output, and torch's output on "
    r"standardised input has mean 0, variance 1 and drop frequency $p$.",
    source="klambauer2017self,paszke2019pytorch",
    catalogue=("I",),
)
def torch_parity() -> list[Evidence]:
    worst = 0.0
    for p in (0.05, 0.1, 0.3, 0.7):
        x = 1.0 + torch.rand(64, 50, generator=seeded_generator(53), dtype=torch.float64)
        out = torch_alpha_dropout(x, p, 54)
        # kept outputs a*x + b are positive for x >= 1; dropped ones equal a*alpha' + b < 0
        mask = (out > 0).to(torch.float64)
        worst = max(worst, (F.apply_alpha_dropout_mask(x, mask, p) - out).abs().max().item())
    p = 0.1
    z = torch.randn(400_000, generator=seeded_generator(55), dtype=torch.float64)
    out = torch_alpha_dropout(z, p, 56)
    a, b = F.alpha_dropout_affine(p)
    dropped = ((out - (a * ALPHA_PRIME + b)).abs() < 1e-12).to(torch.float64)
    return [
        Evidence("exact", worst <= EXACT_TOL, "torch's mask recovered from its output (p = .05, .1, .3, .7), re-applied by the package",
                 estimate=worst, target=0.0, tolerance=EXACT_TOL),
        check_mean(out, 0.0, detail=f"torch's output on N(0,1) input, p={p}: mean"),
        check_variance(out, 1.0, detail="torch's output variance"),
        check_mean(dropped, p, detail="torch's drop frequency"),
    ]


@claim(
    "alpha-dropout.keras-noise-std",
    title="Refuted: alpha dropout's noise has standard deviation sqrt(rate/(1-rate))",
    statement=r"(Keras' `AlphaDropout` docstring.) Alpha dropout is multiplicative noise $y = x\xi$ with "
    r"$\mathrm{sd}(\xi) = \sqrt{p/(1-p)}$, i.e. $\mathrm{Var}(y \mid x) = x^2 p/(1-p)$.",
    source="klambauer2017self",
    expectation="refuted",
    catalogue=("N8",),
)
def keras_noise_std() -> list[Evidence]:
    p = 0.1
    evidence = []
    for x_value, seed in ((1.0, 57), (0.0, 58)):
        y = F.alpha_dropout(torch.full((200_000,), x_value, dtype=torch.float64), p, generator=seeded_generator(seed))
        evidence.append(check_variance(y, x_value**2 * p / (1 - p),
                                       detail=f"Var(y | x={x_value}) of the package's alpha dropout at p={p} vs x^2 p/(1-p)"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(59)
        y = torch.nn.functional.alpha_dropout(torch.ones(200_000, dtype=torch.float64), p, True)
    evidence.append(check_variance(y, p / (1 - p), detail=f"Var(y | x=1) of torch's alpha_dropout at p={p} vs p/(1-p)"))
    return evidence


@claim(
    "alpha-dropout.scale-not-inverted",
    title="Refuted: a = sqrt(q + alpha'^2 q(1-q)) keeps the variance",
    statement=r"(A Java implementation.) With $a = \sqrt{q + \alpha'^2 q(1-q)}$ (no inverse) and $b = -a(1-q)\alpha'$, "
    r"alpha dropout keeps standardised input at variance 1.",
    source="klambauer2017self",
    expectation="refuted",
    catalogue=("N8",),
)
def scale_not_inverted() -> list[Evidence]:
    wrong_a = sp.sqrt(q_sym + alpha_prime_sym**2 * q_sym * (1 - q_sym))
    _, var = affine_moments(wrong_a, -wrong_a * (1 - q_sym) * alpha_prime_sym)
    var01 = sp.factor(sp.simplify(var.subs({mu_sym: 0, nu_sym: 1})))
    value = float(var01.subs({q_sym: sp.Rational(9, 10), alpha_prime_sym: ALPHA_PRIME}))
    return [
        Evidence("symbolic", is_zero(var01 - 1), f"output variance = {var01} (= (q + alpha'^2 q(1-q))^2), not 1"),
        Evidence("exact", abs(value - 1) <= EXACT_TOL, f"at p=0.1 the output variance is {value:.6f}",
                 estimate=value, target=1.0, tolerance=EXACT_TOL),
    ]
