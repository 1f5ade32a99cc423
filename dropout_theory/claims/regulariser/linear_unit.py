"""Regulariser claims for a linear unit (Baldi & Sadowski): the expected dropout gradient and error
as ensemble plus weight decay, and where the penalty peaks in each parametrisation.

Catalogue items B1-B3, N3 and audit rows P25-P27. Baldi & Sadowski write ``p_i`` for the KEEP
probability; the code here calls it ``keep`` and the sympy symbols ``p_i`` only where the
paper's formula is quoted.
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
    dropout_penalty,
    enumerate_dropout_error,
    ensemble_error,
    expected_dropout_error,
    expected_dropout_gradient,
    inverted_dropout_penalty,
)
from dropout_theory.symbolic import bernoulli_expectation, enumerated_expectation, gates, is_zero, keep_probabilities

EXACT_RTOL = 1e-12
SYMBOLIC_D = 3
ENUMERATED_D = 16
q_sym = sp.Symbol("p", positive=True)  # a common KEEP probability, in Baldi & Sadowski's letter


def _polynomial_zero(expr: sp.Expr) -> bool:
    """A polynomial (or rational function of p) is 0 iff its expansion is: cheaper than simplify."""
    return sp.expand(expr) == 0


def _linear_unit_symbols(d: int) -> tuple[list[sp.Symbol], list[sp.Symbol], list[sp.Symbol], list[sp.Symbol], sp.Symbol]:
    """Gates δ_i, keep probabilities p_i (B&S notation), weights w_i, inputs I_i, target t."""
    return gates("delta", d), keep_probabilities("p", d), list(sp.symbols(f"w1:{d + 1}", real=True)), list(sp.symbols(f"I1:{d + 1}", real=True)), sp.Symbol("t", real=True)


def _unit_errors(d: int) -> dict[str, sp.Expr | list]:
    delta, p, w, I, t = _linear_unit_symbols(d)
    E_D = sp.Rational(1, 2) * (t - sum(di * wi * Ii for di, wi, Ii in zip(delta, w, I))) ** 2
    E_ENS = sp.Rational(1, 2) * (t - sum(pi * wi * Ii for pi, wi, Ii in zip(p, w, I))) ** 2
    penalty = sp.Rational(1, 2) * sum(pi * (1 - pi) * wi**2 * Ii**2 for pi, wi, Ii in zip(p, w, I))
    return {"delta": delta, "p": p, "w": w, "I": I, "t": t, "E_D": E_D, "E_ENS": E_ENS, "penalty": penalty}


def _unit_problem(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
    """Weights, inputs, target and distinct keep probabilities in [0.15, 0.9] (asymmetric on purpose)."""
    g = seeded_generator(seed, "cpu")
    w = torch.randn(d, generator=g, dtype=torch.float64)
    inputs = torch.randn(d, generator=g, dtype=torch.float64)
    keep = 0.15 + 0.75 * torch.rand(d, generator=g, dtype=torch.float64)
    return w, inputs, 0.8, keep


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _sampled_unit_terms(w: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` copies of the terms w_i I_i (requiring grad through per-copy weights) after the
    package's non-inverted dropout, unit i dropped with probability 1 - keep_i."""
    g = seeded_generator(seed, "cpu")
    weights = w.expand(n, -1).clone().requires_grad_(True)
    terms = weights * inputs
    dropped = torch.stack([F.dropout(terms[:, i], 1 - float(keep[i]), inverted=False, generator=g) for i in range(len(w))], 1)
    return weights, dropped


@claim(
    "regulariser.linear-unit-gradient",
    title="Expected dropout gradient = ensemble gradient + weight decay (Baldi & Sadowski)",
    statement=r"For a linear unit with gates $\delta_i \sim \mathrm{Bernoulli}(p_i)$ ($p_i$ = **keep**): "
    r"$\mathbb{E}[\partial E_D/\partial w_i] = \partial E_{ENS}/\partial w_i + w_i p_i(1-p_i) I_i^2$, "
    r"$E_{ENS} = \frac12(t - \sum_j p_j w_j I_j)^2$, exactly.",
    source="baldi2013understanding,baldi2014dropout",
    catalogue=("B1", "P25"),
)
def linear_unit_gradient() -> list[Evidence]:
    s = _unit_errors(SYMBOLIC_D)
    residuals = []
    for i, wi in enumerate(s["w"]):
        expected = bernoulli_expectation(sp.diff(s["E_D"], wi), s["delta"], s["p"])
        enumerated = enumerated_expectation(sp.diff(s["E_D"], wi), s["delta"], s["p"])
        target = sp.diff(s["E_ENS"], wi) + wi * s["p"][i] * (1 - s["p"][i]) * s["I"][i] ** 2
        residuals += [expected - target, enumerated - target]
    w, inputs, t, keep = _unit_problem(ENUMERATED_D, 31)
    _, exact_grad = enumerate_dropout_error(w, inputs, t, keep)
    w4, inputs4, t4, keep4 = _unit_problem(4, 32)
    weights, dropped = _sampled_unit_terms(w4, inputs4, keep4, 200_000, 33)
    (per_sample_grad,) = torch.autograd.grad((0.5 * (t4 - dropped.sum(1)) ** 2).sum(), weights)
    return [
        symbolic_evidence(all(_polynomial_zero(r) for r in residuals),
                  f"d={SYMBOLIC_D}, symbolic p_i, w_i, I_i, t: E[dE_D/dw_i] by gate algebra and by enumeration of all 8 gates, minus the formula, is 0 for every i"),
        exact_evidence(_relative(exact_grad, expected_dropout_gradient(w, inputs, t, keep)),
               f"d={ENUMERATED_D}, all 2^{ENUMERATED_D} masks, keep_i in [0.15, 0.9] distinct: max relative error of the gradient"),
        check_mean(per_sample_grad, expected_dropout_gradient(w4, inputs4, t4, keep4),
                   detail="d=4: autograd through the package's non-inverted dropout (unit i dropped w.p. 1-p_i)"),
    ]


@claim(
    "regulariser.expected-error-penalty",
    title="The expected dropout error is the ensemble error plus ½ Σ p(1-p) w² I²",
    statement=r"$\mathbb{E}[E_D] = \frac12\big(t - \sum_i p_i w_i I_i\big)^2 + \frac12 \sum_i p_i(1-p_i) w_i^2 I_i^2$ "
    r"exactly ($p_i$ = keep), by the bias–variance identity $\mathbb{E}(t-O)^2 = (t-\mathbb{E}O)^2 + \mathrm{Var}\,O$.",
    source="baldi2013understanding,baldi2014dropout",
    catalogue=("B2",),
)
def expected_error_penalty() -> list[Evidence]:
    s = _unit_errors(4)
    by_algebra = bernoulli_expectation(s["E_D"], s["delta"], s["p"])
    # General d: for any random O, E(t-O)^2 = (t - m)^2 + v with m = E O, v = Var O ...
    t, m, v = sp.symbols("t m v", real=True)
    bias_variance = sp.expand(t**2 - 2 * t * m + (v + m**2)) - sp.expand((t - m) ** 2 + v)
    # ... and a sum of independent terms delta_i a_i has variance sum a_i^2 p_i (1 - p_i).
    O = sum(di * wi * Ii for di, wi, Ii in zip(s["delta"], s["w"], s["I"]))
    variance = bernoulli_expectation(O**2, s["delta"], s["p"]) - bernoulli_expectation(O, s["delta"], s["p"]) ** 2
    w, inputs, tt, keep = _unit_problem(ENUMERATED_D, 34)
    exact_error, _ = enumerate_dropout_error(w, inputs, tt, keep)
    w4, inputs4, t4, keep4 = _unit_problem(4, 35)
    _, dropped = _sampled_unit_terms(w4, inputs4, keep4, 200_000, 36)
    return [
        symbolic_evidence(_polynomial_zero(by_algebra - s["E_ENS"] - s["penalty"]) and bias_variance == 0 and _polynomial_zero(variance - 2 * s["penalty"]),
                  "d=4 symbolic: E[E_D] - E_ENS - penalty = 0; bias-variance identity and Var O = sum p_i(1-p_i) w_i^2 I_i^2 hold"),
        exact_evidence(_relative(exact_error, expected_dropout_error(w, inputs, tt, keep)),
               f"d={ENUMERATED_D}, all 2^{ENUMERATED_D} masks: relative error of E[E_D]"),
        check_mean((0.5 * (t4 - dropped.sum(1)) ** 2).detach(), expected_dropout_error(w4, inputs4, t4, keep4),
                   detail="d=4: E_D under the package's dropout"),
    ]


@claim(
    "regulariser.penalty-without-half",
    title="Refuted: the regularised error with penalty Σ p(1-p) w² I² (no ½)",
    statement=r"(Audit row P26.) $E_R = \frac12(t - \sum_i p_i w_i I_i)^2 + \sum_i p_i(1-p_i) w_i^2 I_i^2$ is the "
    r"expected dropout error $\mathbb{E}[E_D]$.",
    source="baldi2013understanding",
    expectation="refuted",
    catalogue=("B2", "P26"),
)
def penalty_without_half() -> list[Evidence]:
    s = _unit_errors(SYMBOLIC_D)
    stated = s["E_ENS"] + 2 * s["penalty"]
    difference = sp.factor(stated - bernoulli_expectation(s["E_D"], s["delta"], s["p"]))
    w, inputs, t, keep = _unit_problem(ENUMERATED_D, 37)
    exact_error, _ = enumerate_dropout_error(w, inputs, t, keep)
    stated_value = ensemble_error(w, inputs, t, keep) + 2 * dropout_penalty(w, inputs, keep)
    return [
        symbolic_evidence(_polynomial_zero(difference), f"E_R - E[E_D] = {difference} (d={SYMBOLIC_D}): one extra half-penalty; its gradient doubles the weight decay"),
        exact_evidence(_relative(stated_value, exact_error), f"d={ENUMERATED_D}: relative gap between the stated E_R and E[E_D] by enumeration"),
    ]


@claim(
    "regulariser.unscaled-error-gradient",
    title="Refuted: the same identity with the unscaled network's error",
    statement=r"$\mathbb{E}[\partial E_D/\partial w_i] = \partial E/\partial w_i + w_i p_i(1-p_i)I_i^2$ with "
    r"$E = \frac12(t - \sum_j w_j I_j)^2$, the error of the network *without* keep-scaling.",
    source="baldi2013understanding",
    expectation="refuted",
    catalogue=("B1",),
)
def unscaled_error_gradient() -> list[Evidence]:
    s = _unit_errors(SYMBOLIC_D)
    E_plain = sp.Rational(1, 2) * (s["t"] - sum(wi * Ii for wi, Ii in zip(s["w"], s["I"]))) ** 2
    w1, p1, I1 = s["w"][0], s["p"][0], s["I"][0]
    gap = sp.factor(bernoulli_expectation(sp.diff(s["E_D"], w1), s["delta"], s["p"]) - sp.diff(E_plain, w1) - w1 * p1 * (1 - p1) * I1**2)
    w, inputs, t, keep = _unit_problem(ENUMERATED_D, 38)
    _, exact_grad = enumerate_dropout_error(w, inputs, t, keep)
    plain_grad = -(t - (w * inputs).sum()) * inputs
    stated = plain_grad + w * keep * (1 - keep) * inputs**2
    return [
        symbolic_evidence(_polynomial_zero(gap), f"i=1, d={SYMBOLIC_D}: expectation minus the stated right side = {gap}"),
        exact_evidence(_relative(stated, exact_grad), f"d={ENUMERATED_D}: relative gap to the exact expected gradient"),
    ]


@claim(
    "regulariser.half-peaks-fixed-w",
    title="At fixed weights, the penalty is largest at keep probability ½",
    statement=r"For fixed $w$ (Baldi & Sadowski's parametrisation), the penalty $\frac12\sum_i p_i(1-p_i)w_i^2I_i^2$ "
    r"with a common keep probability $p$ is maximal at $p = \frac12$ and symmetric under $p \mapsto 1-p$.",
    source="baldi2013understanding",
    catalogue=("B3", "P27"),
)
def half_peaks_fixed_w() -> list[Evidence]:
    factor = q_sym * (1 - q_sym)
    stationary = sp.solve(sp.diff(factor, q_sym), q_sym)
    w, inputs, t, _ = _unit_problem(10, 39)
    grid = [k / 20 for k in range(1, 20)]
    exact = [float(enumerate_dropout_error(w, inputs, t, q)[0] - ensemble_error(w, inputs, t, q)) for q in grid]
    peak = grid[max(range(len(grid)), key=exact.__getitem__)]
    symmetric = max(abs(exact[k] - exact[-1 - k]) for k in range(len(grid))) / max(exact)
    return [
        symbolic_evidence(stationary == [sp.Rational(1, 2)] and sp.diff(factor, q_sym, 2) == -2,
                  f"d/dp [p(1-p)] = 0 only at p = {stationary}; second derivative -2"),
        exact_evidence(symmetric if peak == 0.5 else math.inf,
               f"d=10, penalty E[E_D] - E_ENS by enumeration on p = 0.05..0.95: peak at p = {peak}; relative asymmetry"),
    ]


@claim(
    "regulariser.inverted-penalty-monotone",
    title="In the inverted parametrisation the penalty decreases monotonically in the keep probability",
    statement=r"With $\tilde w_i = p\,w_i$ (what inverted dropout learns), $\mathbb{E}[E_D] = \frac12(t - \sum_i \tilde w_i I_i)^2 "
    r"+ \frac12\sum_i \frac{1-p}{p}\tilde w_i^2 I_i^2$ ($p$ = keep): strictly decreasing in $p$, no maximum at $\frac12$.",
    source="baldi2013understanding,srivastava2014dropout",
    catalogue=("B3", "P27"),
)
def inverted_penalty_monotone() -> list[Evidence]:
    s = _unit_errors(SYMBOLIC_D)
    w_tilde = list(sp.symbols(f"wt1:{SYMBOLIC_D + 1}", real=True))
    shared = {pi: q_sym for pi in s["p"]}
    reparam = {wi: wti / q_sym for wi, wti in zip(s["w"], w_tilde)}
    expected = bernoulli_expectation(s["E_D"], s["delta"], q_sym).subs(reparam)
    stated = sp.Rational(1, 2) * (s["t"] - sum(a * b for a, b in zip(w_tilde, s["I"]))) ** 2 + sp.Rational(1, 2) * sum(
        (1 - q_sym) / q_sym * a**2 * b**2 for a, b in zip(w_tilde, s["I"]))
    slope = sp.simplify(sp.diff(sp.Rational(1, 2) * (1 - q_sym) / q_sym, q_sym))
    w_t, inputs, t, _ = _unit_problem(10, 40)
    grid = [k / 20 for k in range(1, 21)]
    exact = [float(enumerate_dropout_error(w_t / q, inputs, t, q)[0] - ensemble_error(w_t / q, inputs, t, q)) for q in grid]
    closed = [float(inverted_dropout_penalty(w_t, inputs, q)) for q in grid]
    decreasing = all(a > b for a, b in zip(exact, exact[1:])) and abs(exact[-1]) <= EXACT_RTOL * exact[0]
    err = max(abs(a - b) for a, b in zip(exact, closed)) / max(closed)
    return [
        symbolic_evidence(is_zero(expected.subs(shared) - stated) and slope == -1 / (2 * q_sym**2),
                  f"d={SYMBOLIC_D}: E[E_D] at w = w~/p equals the stated form; d/dp of the per-unit factor (1-p)/(2p) = {slope} < 0"),
        exact_evidence(err if decreasing else math.inf,
               "d=10, p = 0.05..1: enumerated penalty strictly decreasing to 0 at p = 1; relative error vs closed form"),
    ]


@claim(
    "regulariser.half-regularises-most",
    title="Refuted: keep probability ½ gives the strongest regularisation",
    statement=r"(Audit row P27 taken literally; catalogue N3.) Dropout with keep probability $\frac12$ "
    r"regularises most: the penalty is larger at $p = \frac12$ than at any other $p$, whatever the parametrisation.",
    source="baldi2013understanding",
    expectation="refuted",
    catalogue=("B3", "P27", "N3"),
)
def half_regularises_most() -> list[Evidence]:
    stationary = sp.solve(sp.diff((1 - q_sym) / q_sym, q_sym), q_sym)
    w_t, inputs, _, _ = _unit_problem(10, 41)
    at_half, at_fifth = float(inverted_dropout_penalty(w_t, inputs, 0.5)), float(inverted_dropout_penalty(w_t, inputs, 0.2))
    return [
        symbolic_evidence(bool(stationary), f"inverted parametrisation: stationary points of (1-p)/p: {stationary} (none)"),
        Evidence("exact", at_half >= at_fifth, f"same learned weights w~: penalty {at_half:.4f} at p=0.5 vs {at_fifth:.4f} at p=0.2",
                 estimate=at_half, target=at_fifth),
    ]
