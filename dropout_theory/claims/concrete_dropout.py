"""Claims of the chapter *Concrete dropout* (book/concrete-dropout.md).

Catalogue item G7. Gal, Hron & Kendall write :math:`p` for the *drop* probability, as this
package does (unlike Gal & Ghahramani 2016, where :math:`p` is the keep probability).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import integrate, special
from torch import nn

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import intra_op_threads, seeded_generator
from dropout_theory.functional.masks import uniform
from dropout_theory.montecarlo import check_mean
from dropout_theory.nn import ConcreteDropout
from dropout_theory.symbolic import binary_entropy, is_zero

TEMPERATURES = (1.0, 0.5, 0.1, 0.01)
DATA_SIZES = (10, 100, 1000)
SEEDS = (0, 1, 2)
# The learned p must fall by at least this much from the smallest to the largest data set
# in every seed; fixed before looking at the results (p starts at 0.1).
MARGIN = 0.05


def relaxed_mean(p: float, temperature: float) -> float:
    r""":math:`\mathbb{E}[\tilde z] = \int_0^1 \sigma((\mathrm{logit}\,p + \mathrm{logit}\,u)/t)\,du` by quadrature."""
    value, _ = integrate.quad(
        lambda u: special.expit((special.logit(p) + special.logit(u)) / temperature), 0.0, 1.0, points=[1.0 - p], limit=400
    )
    return float(value)


@claim(
    "concrete-dropout.relaxation-limit",
    title="The relaxed mask tends to Bernoulli(p)",
    statement=r"$\tilde z = \sigma((\log p - \log(1-p) + \log u - \log(1-u))/t)$ satisfies $\tilde z > 1/2 \iff u > 1-p$, "
    r"so $P(\tilde z > 1/2) = p$ at every temperature, and $\mathbb{E}[\tilde z] \to p$ as $t \to 0$ "
    r"(at the reference $t = 0.1$ and $p = 0.3$, $\mathbb{E}[\tilde z] - p \approx 0.0014$).",
    source="gal2017concrete",
    catalogue=("G7",),
)
def relaxation_limit() -> list[Evidence]:
    p_s, u_s = sp.symbols("p u", positive=True)
    # logit p + logit u > 0  <=>  p u > (1 - p)(1 - u)  <=>  u > 1 - p.
    threshold_ok = is_zero(sp.expand(p_s * u_s - (1 - p_s) * (1 - u_s)) - (u_s - (1 - p_s)))
    p = 0.3
    gaps = [relaxed_mean(p, t) - p for t in TEMPERATURES]
    shrinking = all(a > b > 0 for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-4
    mask_low = F.concrete_drop_mask((400_000,), p, temperature=0.1, eps=0.0, generator=seeded_generator(71), dtype=torch.float64)
    mask_high = F.concrete_drop_mask((400_000,), p, temperature=1.0, eps=0.0, generator=seeded_generator(72), dtype=torch.float64)
    return [
        Evidence("symbolic", threshold_ok, "p u - (1-p)(1-u) = u - (1 - p): the sign test of the relaxation's logit"),
        Evidence("exact", shrinking,
                 "E[z] - p by quadrature at t = " + ", ".join(f"{t}: {gap:.2e}" for t, gap in zip(TEMPERATURES, gaps)),
                 estimate=gaps[-1], target=0.0, tolerance=1e-4),
        check_mean((mask_low > 0.5).double(), p, detail="P(z > 1/2) at t = 0.1, package's concrete_drop_mask"),
        check_mean((mask_high > 0.5).double(), p, detail="P(z > 1/2) at t = 1"),
        check_mean(mask_low, relaxed_mean(p, 0.1), detail="E[z] at t = 0.1 vs quadrature"),
    ]


@claim(
    "concrete-dropout.gradient-in-p",
    title="The relaxed mask is differentiable in p",
    statement=r"With the noise $u$ fixed, $y = x(1-\tilde z)/(1-p)$ is differentiable in $p$, with "
    r"$\partial \tilde z/\partial p = \tilde z(1-\tilde z)/(t\,p(1-p))$; autograd through the package's op gives this "
    r"pathwise gradient.",
    source="gal2017concrete",
    catalogue=("G7",),
)
def gradient_in_p() -> list[Evidence]:
    p_s, u_s, t_s = sp.symbols("p u t", positive=True)
    z = 1 / (1 + sp.exp(-(sp.log(p_s) - sp.log(1 - p_s) + sp.log(u_s) - sp.log(1 - u_s)) / t_s))
    derivative_ok = is_zero(sp.diff(z, p_s) - z * (1 - z) / (t_s * p_s * (1 - p_s)))
    t = 0.1
    p = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = torch.linspace(-1.0, 2.0, 64, dtype=torch.float64)
    y = F.concrete_dropout(x, p, temperature=t, eps=0.0, generator=seeded_generator(73))
    (grad,) = torch.autograd.grad(y.sum(), p)
    u = uniform((64,), generator=seeded_generator(73), dtype=torch.float64)  # replay the same noise
    pv = 0.3
    zv = torch.sigmoid((math.log(pv / (1 - pv)) + torch.log(u) - torch.log1p(-u)) / t)
    dz = zv * (1 - zv) / (t * pv * (1 - pv))
    formula = (x * (-dz / (1 - pv) + (1 - zv) / (1 - pv) ** 2)).sum()
    rel = abs(grad.item() - formula.item()) / abs(formula.item())
    return [
        Evidence("symbolic", derivative_ok, "d z/d p = z (1 - z) / (t p (1 - p))"),
        Evidence("exact", rel <= 1e-10 and math.isfinite(grad.item()) and grad.item() != 0.0,
                 f"autograd {grad.item():.10g} vs formula {formula.item():.10g} with the replayed noise (relative error)",
                 estimate=rel, target=0.0, tolerance=1e-10),
    ]


@claim(
    "concrete-dropout.regulariser",
    title="The regulariser: weight term and entropy term",
    statement=r"The reference code's weight term $\lambda_w \sum W^2/(1-p)$ equals $\lambda_w (1-p)\sum M^2$ for the paper's "
    r"mean weights $M = W/(1-p)$ (inputs are divided by $1-p$); the dropout term $\lambda_d K (p\log p + (1-p)\log(1-p)) "
    r"= -\lambda_d K H(p)$ is minimal at $p = 1/2$, so alone it pushes $p$ towards $1/2$. The module's "
    r"`regularization()` computes this sum.",
    source="gal2017concrete",
    catalogue=("G7",),
)
def regulariser() -> list[Evidence]:
    p, lw, ld, K, m = sp.symbols("p lambda_w lambda_d K m", positive=True)
    w = (1 - p) * m
    weight_ok = is_zero(lw * w**2 / (1 - p) - lw * (1 - p) * m**2)
    dropout_term = ld * K * (p * sp.log(p) + (1 - p) * sp.log(1 - p))
    entropy_ok = is_zero(dropout_term + ld * K * binary_entropy(p))
    stationary = sp.solve(sp.diff(dropout_term, p), p)
    torch.manual_seed(74)  # parameter initialisation only
    layer = nn.Linear(6, 3, dtype=torch.float64)
    module = ConcreteDropout(0.27, layer, weight_regularizer=1e-3, dropout_regularizer=2e-2, generator=seeded_generator(75), dtype=torch.float64)
    module(torch.randn(5, 6, generator=seeded_generator(76), dtype=torch.float64))
    pv = 1 / (1 + math.exp(-float(module.p_logit.detach())))
    expected = 1e-3 * float(layer.weight.detach().pow(2).sum()) / (1 - pv) + 2e-2 * 6 * (pv * math.log(pv) + (1 - pv) * math.log(1 - pv))
    err = abs(float(module.regularization().detach()) - expected)
    return [
        Evidence("symbolic", weight_ok and entropy_ok and stationary == [sp.Rational(1, 2)],
                 f"weight terms agree; dropout term = -lambda_d K H(p); stationary at p = {stationary}"),
        Evidence("exact", err <= 1e-12 and abs(pv - 0.27) <= 1e-12, f"module.regularization() vs the formula, p = {pv:.12g}",
                 estimate=err, target=0.0, tolerance=1e-12),
    ]


def fit_concrete_regression(n: int, seed: int, *, steps: int = 200, width: int = 16, length_scale: float = 1e-2) -> float:
    r"""Fit :math:`y = 2x + 8 + \varepsilon` with a Concrete-dropout network; return the learned p.

    The network is ``Linear(1, width) -> ReLU -> ConcreteDropout(Linear(width, 2))``, whose two
    outputs are the predictive mean and log-variance (heteroscedastic Gaussian likelihood,
    as in the reference notebook); regularisers :math:`\lambda_w = l^2/N`,
    :math:`\lambda_d = 2/N` as in that notebook; full-batch Adam. The data and the masks
    come from generators seeded by ``seed``; parameter initialisation from ``torch.manual_seed(seed)``.
    """
    with intra_op_threads(1):
        g = seeded_generator(seed, "cpu")
        torch.manual_seed(seed)
        x = torch.randn(n, 1, generator=g)
        y = 2 * x + 8 + torch.randn(n, 1, generator=g)
        hidden = nn.Linear(1, width)
        head = ConcreteDropout(
            0.1, nn.Linear(width, 2), weight_regularizer=length_scale**2 / n, dropout_regularizer=2.0 / n, generator=g
        )
        optimiser = torch.optim.Adam([*hidden.parameters(), *head.parameters()], lr=2e-2)
        for _ in range(steps):
            out = head(torch.relu(hidden(x)))
            mean, log_var = out[:, :1], out[:, 1:]
            nll = (0.5 * (y - mean) ** 2 * torch.exp(-log_var) + 0.5 * log_var).mean()
            loss = nll + head.regularization()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return float(head.p.detach())


@claim(
    "concrete-dropout.p-falls-with-data",
    title="The learned dropout rate falls as the data set grows",
    statement=r"On $y = 2x + 8 + \varepsilon$, $\varepsilon \sim N(0, 1)$, with $\lambda_w = l^2/N$ and $\lambda_d = 2/N$, the "
    r"learned $p$ decreases as $N$ grows ($N = 10, 100, 1000$): the regulariser, which favours $p = 1/2$, weighs "
    r"$1/N$ against the data term. Experiment: three seeds, each must show a drop of at least 0.05 from $N = 10$ to "
    r"$N = 1000$, and the mean over seeds must decrease at each step.",
    source="gal2017concrete",
    catalogue=("G7",),
)
def p_falls_with_data() -> list[Evidence]:
    table = np.array([[fit_concrete_regression(n, seed) for n in DATA_SIZES] for seed in SEEDS])
    means = table.mean(axis=0)
    drops = table[:, 0] - table[:, -1]
    ok = bool((drops >= MARGIN).all() and np.all(np.diff(means) < 0))
    return [
        Evidence("experiment", ok,
                 "mean learned p at N = " + ", ".join(f"{n}: {m:.3f}" for n, m in zip(DATA_SIZES, means))
                 + f"; per-seed drop N=10 -> 1000: {', '.join(f'{d:.3f}' for d in drops)} (margin {MARGIN})",
                 estimate=float(drops.min()), target=MARGIN, samples=len(SEEDS)),
    ]
