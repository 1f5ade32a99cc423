"""Claims of the chapter *DropPath and stochastic depth* (book/drop-path.md).

Catalogue item K3. In code ``p`` is the drop probability of a branch; Huang et al. write
:math:`p_\\ell` for the *survival* probability, so ``p = 1 - p_ell``.
"""

from __future__ import annotations

import math

import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import check_mean
from dropout_theory.symbolic import enumerated_expectation, gates, is_zero




@claim(
    "drop-path.per-sample-unbiased",
    title="One gate per sample, divided by the survival probability",
    statement=r"Inverted drop-path $y_n = b_n x_n/(1-p)$, $b_n \sim \mathrm{Bernoulli}(1-p)$, multiplies every feature of "
    r"sample $n$ by the same gate, so each sample's output is $0$ or $x_n/(1-p)$ as a whole, and $\mathbb{E}[y] = x$.",
    source="huang2016deep",
    catalogue=("K3",),
)
def per_sample_unbiased() -> list[Evidence]:
    (b,) = gates("b", 1)
    s, x = sp.symbols("s x", positive=True)  # s = survival probability 1 - p
    mean = enumerated_expectation(b * x / s, [b], s)
    p = 0.3
    x_val = torch.linspace(-2.0, 2.0, 12, dtype=torch.float64).view(1, 3, 4).expand(100_000, 3, 4)
    y = F.drop_path(x_val, p, generator=seeded_generator(41))
    ratio = (y / x_val).reshape(len(y), -1)
    whole = bool(((ratio == 0).all(dim=1) | (ratio - 1 / (1 - p)).abs().le(1e-12).all(dim=1)).all())
    return [
        Evidence("symbolic", is_zero(mean - x), f"E[b x / s] = {sp.simplify(mean)}"),
        exact_evidence(0.0 if whole else math.inf, "every one of 100,000 samples is all-zero or all x/(1-p) across its 12 features"),
        check_mean(y.reshape(len(y), -1), x_val[0].reshape(-1), detail=f"mean output vs x at p={p}, 12 features"),
    ]


@claim(
    "drop-path.expected-depth",
    title="Expected depth under the linear-decay schedule",
    statement=r"With survival $p_\ell = 1 - \frac{\ell}{L}(1 - p_L)$, the expected number of active blocks is "
    r"$\sum_{\ell=1}^L p_\ell = L - \frac{L+1}{2}(1-p_L)$, which is $(3L-1)/4$ for $p_L = 1/2$ "
    r"($40.25$ for $L = 54$, the 110-layer ResNet).",
    source="huang2016deep",
    catalogue=("K3",),
)
def expected_depth() -> list[Evidence]:
    pL = sp.Symbol("p_L", positive=True)
    Ln = sp.Symbol("L", positive=True, integer=True)
    elln = sp.Symbol("ell", positive=True, integer=True)
    total = sp.summation(1 - elln / Ln * (1 - pL), (elln, 1, Ln))
    general_ok = is_zero(total - (Ln - (Ln + 1) / 2 * (1 - pL)))
    half_ok = is_zero(total.subs(pL, sp.Rational(1, 2)) - (3 * Ln - 1) / 4)
    survival54 = F.linear_decay_survival(54, 0.5)
    exact54 = math.fsum(survival54)
    # Exact enumeration over all 2^12 gate patterns for L = 12.
    survival12 = torch.tensor(F.linear_decay_survival(12, 0.5), dtype=torch.float64)
    masks = all_masks(12)
    weights = mask_probabilities(masks, survival12)
    enumerated = (weights @ masks.sum(1)).item()
    # Monte Carlo: the package's drop_path gates (non-inverted, so a kept block gives 1).
    g = seeded_generator(42)
    depth = sum(F.drop_path(torch.ones(100_000, dtype=torch.float64), 1 - s, inverted=False, generator=g) for s in survival54)
    return [
        Evidence("symbolic", general_ok and half_ok, f"sum_l p_l = {sp.factor(total)}; at p_L = 1/2: {sp.factor(total.subs(pL, sp.Rational(1, 2)))}"),
        exact_evidence(abs(exact54 - 40.25) + abs(enumerated - 35 / 4),
               f"L=54: sum of linear_decay_survival = {exact54}; L=12: E depth over all 2^12 gate patterns = {enumerated:.12f} = 35/4"),
        check_mean(depth, 40.25, detail="depth of 100,000 sampled 54-block networks (package's drop_path gates)"),
    ]


@claim(
    "drop-path.test-time-rule",
    title="Huang's test rule and inverted training are the same network",
    statement=r"Non-inverted training $H_\ell = \mathrm{ReLU}(b_\ell f_\ell(H_{\ell-1}) + H_{\ell-1})$ tests with "
    r"$\mathrm{ReLU}(p_\ell f_\ell + H_{\ell-1})$, the gate replaced by its mean. Inverted training "
    r"$\mathrm{ReLU}(b_\ell f'_\ell/p_\ell + H_{\ell-1})$ tests with the identity; with $f'_\ell = p_\ell f_\ell$ the two "
    r"networks agree for every gate pattern, in training and at test.",
    source="huang2016deep",
    catalogue=("K3",),
)
def test_time_rule() -> list[Evidence]:
    (b,) = gates("b", 1)
    s, f, h = sp.symbols("s f h", real=True)
    pre_mean = enumerated_expectation(b * f + h, [b], s)
    L, width, batch = 4, 6, 32
    survival = F.linear_decay_survival(L, 0.5)
    g = seeded_generator(43)
    weights = [torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width) for _ in range(L)]
    x = torch.randn(batch, width, generator=g, dtype=torch.float64)

    def net(scale_branch: list[float], inverted: bool, training: bool, seed: int) -> torch.Tensor:
        gen = seeded_generator(seed)
        h_val = x
        for W, s_l, c in zip(weights, survival, scale_branch):
            branch = torch.tanh(h_val @ W.T) * c
            h_val = torch.relu(F.drop_path(branch, 1 - s_l, training, inverted=inverted, generator=gen) + h_val)
        return h_val

    plain = [1.0] * L
    err = 0.0
    for seed in range(44, 54):
        err = max(err, (net(plain, False, True, seed) - net(survival, True, True, seed)).abs().max().item())
    err = max(err, (net(plain, False, False, 0) - net(survival, True, False, 0)).abs().max().item())
    return [
        Evidence("symbolic", is_zero(pre_mean - (s * f + h)), f"E[b f + h] = {sp.expand(pre_mean)} (the pre-activation's mean)"),
        exact_evidence(err, f"{L}-block residual net, 10 gate draws in training and the test rule: non-inverted with f vs inverted with p_l f"),
    ]


@claim(
    "drop-path.subnetworks",
    title="2^L subnetworks",
    statement=r"Every one of the $2^L$ gate patterns (each a subnetwork of active blocks) has positive probability, since "
    r"$p_\ell \ge p_L > 0$; their probabilities sum to one.",
    source="huang2016deep",
    catalogue=("K3",),
)
def subnetworks() -> list[Evidence]:
    L = 14
    masks = all_masks(L)
    probs = mask_probabilities(masks, torch.tensor(F.linear_decay_survival(L, 0.5), dtype=torch.float64))
    positive = int((probs > 0).sum())
    return [exact_evidence(abs(probs.sum().item() - 1.0) if positive == 2**L else math.inf,
                   f"L={L}: {positive} of 2^{L} = {2**L} gate patterns have positive probability; total probability 1")]
