"""Claims of the chapter *Dropout as a penalty* (book/regulariser.md).

Catalogue items B1-B3, E1, E2, N1, N3 and audit rows P25-P27. Baldi & Sadowski write
``p_i`` for the KEEP probability; the code here calls it ``keep`` and the sympy symbols
``p_i`` only where the paper's formula is quoted. Wager et al.'s δ is the drop probability,
the package's ``p``.
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
    dropout_penalty,
    enumerate_dropout_error,
    enumerate_dropout_least_squares,
    ensemble_error,
    expected_dropout_error,
    expected_dropout_gradient,
    glm_dropout_penalty,
    glm_expected_loss,
    glm_loss,
    glm_penalty_small_drop_slope,
    glm_quadratic_penalty,
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
