"""Claims of the chapter *DropConnect* (book/dropconnect.md).

Catalogue item J and audit rows P8, P17. ``p`` is the drop probability and ``q = 1 - p``;
Wan et al. (2013) write ``p`` for the keep probability. The package uses inverted
DropConnect (training divides by q); Wan et al.'s keep-scaled layer is the same with W -> qW.
"""

from __future__ import annotations

import math

import sympy as sp
import torch
from scipy import stats

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import Estimate, check_estimate, check_mean, check_variance
from dropout_theory.symbolic import bernoulli_expectation, gates, is_zero

EXACT_TOL = 1e-12
q_sym = sp.Symbol("q", positive=True)


def enumerated_dropconnect_moments(x: torch.Tensor, weight: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact mean and variance of the package's masked layer output over all 2^(out*in) weight masks."""
    out_f, in_f = weight.shape
    masks = all_masks(out_f * in_f)
    probs = mask_probabilities(masks, 1 - p)
    outputs = F.apply_dropconnect_mask(x.expand(len(masks), -1), weight, None, masks.reshape(-1, out_f, in_f), p)
    mean = probs @ outputs
    return mean, probs @ (outputs - mean) ** 2


@claim(
    "dropconnect.moments",
    title="Exact mean and variance of a DropConnect pre-activation",
    statement=r"For $u = (M \star W)v$ with $M_{ij} \sim \mathrm{Bernoulli}(q)$ i.i.d. (Wan et al.'s keep-scaled form), "
    r"$\mathbb{E}u = qWv$ and $\mathrm{Var}\,u = q(1-q)(W \star W)(v \star v)$ exactly; the package's inverted form "
    r"$(M\star W)v/q$ has mean $Wv$ and variance $\frac{p}{1-p}(W\star W)(v\star v)$.",
    source="wan2013regularization",
    catalogue=("J", "P8"),
)
def moments() -> list[Evidence]:
    m = gates("m", 4)
    w = sp.symbols("w1:5", real=True)
    v1, v2 = sp.symbols("v1 v2", real=True)
    u1 = m[0] * w[0] * v1 + m[1] * w[1] * v2  # 2x2 layer, row 1
    u2 = m[2] * w[2] * v1 + m[3] * w[3] * v2
    mean1 = bernoulli_expectation(u1, m, q_sym)
    var1 = bernoulli_expectation(u1**2, m, q_sym) - mean1**2
    cov12 = bernoulli_expectation(u1 * u2, m, q_sym) - mean1 * bernoulli_expectation(u2, m, q_sym)
    sym_ok = is_zero(mean1 - q_sym * (w[0] * v1 + w[1] * v2)) and is_zero(
        var1 - q_sym * (1 - q_sym) * (w[0] ** 2 * v1**2 + w[1] ** 2 * v2**2)) and is_zero(cov12)
    p = 0.3
    g = seeded_generator(71)
    x = torch.randn(4, generator=g, dtype=torch.float64)
    W = torch.randn(3, 4, generator=g, dtype=torch.float64)
    mean, var = enumerated_dropconnect_moments(x, W, p)
    mean_t, var_t = F.dropconnect_moments(x, W, p)
    err = max((mean - W @ x).abs().max().item(), (var - p / (1 - p) * (W * W) @ (x * x)).abs().max().item(),
              (mean_t - mean).abs().max().item(), (var_t - var).abs().max().item())
    samples = F.dropconnect_linear(x.expand(100_000, -1), W, None, p, per_example=True, generator=seeded_generator(72))
    return [
        Evidence("symbolic", sym_ok, f"2x2 layer: E u1 = {sp.factor(mean1)}, Var u1 = {sp.factor(var1)}, Cov(u1, u2) = {sp.simplify(cov12)}"),
        Evidence("exact", err <= EXACT_TOL, f"3x4 layer, all 2^12 weight masks through the package's op, p={p}; "
                 "also the package's dropconnect_moments", estimate=err, target=0.0, tolerance=EXACT_TOL),
        check_mean(samples, W @ x, detail="per-example DropConnect, 100,000 masks: mean Wx"),
        check_variance(samples, p / (1 - p) * (W * W) @ (x * x), detail="variance p/(1-p) (W*W)(x*x)"),
    ]


@claim(
    "dropconnect.dropout-is-column-mask",
    title="A dropout mask is a DropConnect mask with whole columns zeroed",
    statement=r"Dropping input unit $j$ with a mask $m$ equals DropConnect with $M_{ij} = m_j$ for every row $i$: "
    r"$W(m \odot v) = (\mathbf 1 m^\top \star W)v$ for every mask, so dropout is the special case of DropConnect whose "
    r"masks are constant along columns.",
    source="wan2013regularization,srivastava2014dropout",
    catalogue=("J", "P17"),
)
def dropout_is_column_mask() -> list[Evidence]:
    p, d = 0.4, 10
    g = seeded_generator(73)
    v = torch.randn(d, generator=g, dtype=torch.float64)
    W = torch.randn(5, d, generator=g, dtype=torch.float64)
    masks = all_masks(d)
    via_dropout = F.apply_dropout_mask(v.expand(len(masks), -1), masks, p) @ W.T
    column_masks = masks[:, None, :].expand(-1, 5, -1)
    via_dropconnect = F.apply_dropconnect_mask(v.expand(len(masks), -1), W, None, column_masks, p)
    err = (via_dropout - via_dropconnect).abs().max().item()
    return [Evidence("exact", err <= EXACT_TOL, f"all 2^{d} unit masks, 5x{d} layer, p={p}: dropout vs column-constant DropConnect",
                     estimate=err, target=0.0, tolerance=EXACT_TOL)]


@claim(
    "dropconnect.dropout-drops-connections",
    title="Refuted: dropout drops individual connections",
    statement=r"(A source note, audit row P17.) In a fully connected net dropout \"drops individual connections between "
    r"nodes\": connection $(i, j)$ can be removed while connection $(k, j)$ from the same unit stays.",
    source="srivastava2014dropout,wan2013regularization",
    expectation="refuted",
    catalogue=("P17",),
)
def dropout_drops_connections() -> list[Evidence]:
    p, d, out_f = 0.5, 8, 3
    masks = all_masks(d)
    probs = mask_probabilities(masks, 1 - p)
    connection_masks = masks[:, None, :].expand(-1, out_f, -1)  # what each dropout mask does to the weights
    split = (connection_masks[:, 0, :] != connection_masks[:, 1, :]).any(-1)
    prob_split = probs[split].sum().item()
    W = torch.ones(out_f, d, dtype=torch.float64)
    # With unit weights and a one-hot input, the two rows' outputs reveal whether unit 0's two connections agree.
    one_hot = torch.zeros(20_000, d, dtype=torch.float64)
    one_hot[:, 0] = 1.0
    out = torch.nn.functional.linear(F.dropout(one_hot, p, generator=seeded_generator(75)), W)
    split_freq = (out[:, 0] != out[:, 1]).double().mean().item()
    return [
        Evidence("exact", prob_split > 0, f"all 2^{d} dropout masks, as connection masks on a {out_f}x{d} layer: "
                 f"P(rows 1 and 2 of some column differ) = {prob_split}; under DropConnect it is 1 - (q^2 + p^2)^{d} = "
                 f"{1 - (0.25 + 0.25) ** d:.4f}", estimate=prob_split, target=0.0),
        Evidence("exact", split_freq > 0, f"20,000 sampled dropout steps: unit 0's connections to outputs 1 and 2 "
                 f"disagreed in a fraction {split_freq} of them", estimate=split_freq, target=0.0),
    ]


def relu_gaussian_mean(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathbb{E}\max(0, U)`, :math:`U \sim \mathcal N(\mu, s^2)`: :math:`\mu\Phi(\mu/s) + s\varphi(\mu/s)`."""
    s = var.sqrt()
    z = (mean / s).numpy()
    return torch.as_tensor(mean.numpy() * stats.norm.cdf(z) + s.numpy() * stats.norm.pdf(z))


@claim(
    "dropconnect.moment-matching",
    title="Inference by Gaussian moment matching",
    statement=r"Wan et al.'s inference samples $u \sim \mathcal N(qWv, q(1-q)(W\star W)(v\star v))$ (inverted: "
    r"$\mathcal N(Wv, \frac{p}{1-p}(W\star W)(v\star v))$) and averages $a(u)$: the samples have the exact moments of the "
    r"masked pre-activation, and the average converges to $\mathbb{E}\,a(U)$ for the Gaussian $U$ (for ReLU, "
    r"$\mu\Phi(\mu/s) + s\varphi(\mu/s)$).",
    source="wan2013regularization",
    catalogue=("J",),
)
def moment_matching() -> list[Evidence]:
    p = 0.4
    g = seeded_generator(76)
    x = torch.randn(2, 30, generator=g, dtype=torch.float64)
    W = torch.randn(3, 30, generator=g, dtype=torch.float64) / math.sqrt(30)
    mean, var = F.dropconnect_moments(x, W, p)
    # Samples of the moment-matched pre-activation itself: identity activation, one sample per call row.
    rows = x.expand(100_000, -1, -1)
    draws = F.dropconnect_moment_matching(rows, W, None, p, lambda u: u, 1, generator=seeded_generator(78)).reshape(100_000, -1)
    relu = F.dropconnect_moment_matching(x, W, None, p, torch.relu, 200_000, generator=seeded_generator(79))
    # The ReLU average is a mean of 200,000 i.i.d. values; its standard error needs their spread.
    pilot = torch.randn(2000, *mean.shape, generator=seeded_generator(80), dtype=torch.float64)
    se = torch.relu(mean + var.sqrt() * pilot).std(0) / math.sqrt(200_000)
    return [
        check_mean(draws, mean.reshape(-1), detail="moment-matched samples: mean Wx"),
        check_variance(draws, var.reshape(-1), detail="their variance p/(1-p)(W*W)(x*x)"),
        check_estimate(Estimate(relu.reshape(-1).numpy(), se.reshape(-1).numpy(), 200_000), relu_gaussian_mean(mean, var).reshape(-1),
                       detail="ReLU average over 200,000 samples vs the closed form (SE from 2,000 pilot draws)"),
    ]


@claim(
    "dropconnect.per-example-masks",
    title="Per-batch masks are shared, per-example masks are independent",
    statement=r"With one mask per batch, two copies of the same input get identical outputs; with one mask per "
    r"example their outputs are independent, each with variance $\frac{p}{1-p}(W\star W)(v\star v)$.",
    source="wan2013regularization",
    catalogue=("J",),
)
def per_example_masks() -> list[Evidence]:
    p, n = 0.3, 20_000
    g = seeded_generator(81)
    v = torch.randn(6, generator=g, dtype=torch.float64)
    W = torch.randn(2, 6, generator=g, dtype=torch.float64)
    mean, var = F.dropconnect_moments(v, W, p)
    pair = v.expand(2, -1)
    shared, independent = [], []
    gen_b, gen_e = seeded_generator(82), seeded_generator(83)
    for _ in range(n // 100):
        batch = pair.expand(100, 2, 6)
        # per-batch: each call is one batch holding the 2 copies; per-example: 100 such pairs in one call,
        # with a chunk size that splits pairs across chunks (masks must not depend on the chunking)
        shared.append(torch.stack([F.dropconnect_linear(pair, W, None, p, generator=gen_b) for _ in range(100)]))
        independent.append(F.dropconnect_linear(batch, W, None, p, per_example=True, chunk_size=37, generator=gen_e))
    shared_t, indep_t = torch.cat(shared), torch.cat(independent)
    identical = bool((shared_t[:, 0] == shared_t[:, 1]).all())
    centred = (indep_t - mean)
    return [
        Evidence("exact", identical, f"per-batch: the two copies' outputs are identical in all {n} batches"),
        check_mean(centred[:, 0] * centred[:, 1], torch.zeros(2), detail="per-example: covariance of the two copies' outputs (target 0)"),
        check_variance(indep_t[:, 0], var, detail="per-example: variance of one copy"),
    ]
