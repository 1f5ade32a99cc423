"""Claims of the chapter *The algorithm: training and inference* (book/algorithm.md).

Catalogue items A1-A4 and audit rows P1, P2, P3, P7, P14. ``p`` is the drop probability
and ``q = 1 - p`` the keep probability throughout.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from scipy import stats

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence, symbolic_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.symbolic import binary_entropy, enumerated_expectation, gates, is_zero

q_sym = sp.Symbol("q", positive=True)
h_sym = sp.Symbol("h", real=True)




@claim(
    "algorithm.bernoulli-moments",
    title="Moments of a Bernoulli mask",
    statement=r"For $r \sim \mathrm{Bernoulli}(q)$: $\mathbb{E}[r^k] = q$ for $k \ge 1$, "
    r"$\mathrm{Var}[r] = q(1-q)$, largest ($=1/4$) at $q = 1/2$.",
    source="srivastava2014dropout",
    catalogue=("A1",),
)
def bernoulli_moments() -> list[Evidence]:
    (r,) = gates("r", 1)
    powers_ok = all(is_zero(enumerated_expectation(r**k, [r], q_sym) - q_sym) for k in range(1, 6))
    var = sp.expand(enumerated_expectation(r**2, [r], q_sym) - enumerated_expectation(r, [r], q_sym) ** 2)
    stationary = sp.solve(sp.diff(var, q_sym), q_sym)
    peak_ok = stationary == [sp.Rational(1, 2)] and sp.diff(var, q_sym, 2) < 0 and var.subs(q_sym, sp.Rational(1, 2)) == sp.Rational(1, 4)
    q = 0.3
    masks = F.bernoulli_mask((400_000,), q, generator=seeded_generator(11), dtype=torch.float64)
    return [
        symbolic_evidence(powers_ok and is_zero(var - q_sym * (1 - q_sym)) and peak_ok,
                  f"E r^k = q for k=1..5; Var r = {var}; d/dq Var = 0 only at q = {stationary}, value 1/4"),
        check_mean(masks, q, detail=f"E r, package's bernoulli_mask at q={q}"),
        check_variance(masks, q * (1 - q), detail=f"Var r at q={q}"),
    ]


@claim(
    "algorithm.inverted-moments",
    title="Inverted dropout keeps the mean",
    statement=r"Inverted dropout $y = r h / q$ has $\mathbb{E}[y] = h$ and "
    r"$\mathrm{Var}[y] = h^2 (1-q)/q = h^2 p/(1-p)$; at inference $y = h$ with no scaling.",
    source="srivastava2014dropout",
    catalogue=("A2", "P2"),
)
def inverted_moments() -> list[Evidence]:
    (r,) = gates("r", 1)
    y = r * h_sym / q_sym
    mean = enumerated_expectation(y, [r], q_sym)
    var = enumerated_expectation(y**2, [r], q_sym) - mean**2
    p = 0.3
    h = torch.linspace(-2.0, 3.0, 8, dtype=torch.float64)
    masks = all_masks(8)
    weights = mask_probabilities(masks, 1 - p)
    outputs = F.apply_dropout_mask(h.expand(len(masks), -1), masks, p)
    exact_mean = weights @ outputs
    exact_var = weights @ (outputs - exact_mean) ** 2
    err = max((exact_mean - h).abs().max().item(), (exact_var - h**2 * p / (1 - p)).abs().max().item())
    eval_identity = F.dropout(h, p, training=False) is h
    samples = F.dropout(h.expand(200_000, -1), p, generator=seeded_generator(12))
    return [
        symbolic_evidence(is_zero(mean - h_sym) and is_zero(var - h_sym**2 * (1 - q_sym) / q_sym),
                  f"E y = {sp.simplify(mean)}, Var y = {sp.factor(var)}"),
        exact_evidence(err if eval_identity else math.inf,
               f"all 2^8 masks through the package's op at p={p}: max error of mean and variance"
               + ("; eval returns h itself" if eval_identity else "; EVAL IS NOT THE IDENTITY")),
        check_mean(samples, h, detail=f"mean of the package's dropout at p={p}"),
        check_variance(samples, h**2 * p / (1 - p), detail="variance h^2 p/(1-p)"),
    ]


@claim(
    "algorithm.non-inverted-moments",
    title="Non-inverted dropout scales at inference",
    statement=r"Non-inverted dropout $\tilde h = r h$ has $\mathbb{E}[\tilde h] = q h = (1-p) h$, "
    r"so inference multiplies by the keep rate $q$: the evaluation output equals the training mean.",
    source="srivastava2014dropout",
    catalogue=("A2", "P1"),
)
def non_inverted_moments() -> list[Evidence]:
    (r,) = gates("r", 1)
    mean = enumerated_expectation(r * h_sym, [r], q_sym)
    p = 0.3
    h = torch.linspace(-2.0, 3.0, 8, dtype=torch.float64)
    masks = all_masks(8)
    exact_mean = mask_probabilities(masks, 1 - p) @ F.apply_dropout_mask(h.expand(len(masks), -1), masks, p, inverted=False)
    eval_out = F.dropout(h, p, training=False, inverted=False)
    err = max((exact_mean - eval_out).abs().max().item(), (eval_out - (1 - p) * h).abs().max().item())
    samples = F.dropout(h.expand(200_000, -1), p, inverted=False, generator=seeded_generator(13))
    return [
        symbolic_evidence(is_zero(mean - q_sym * h_sym), f"E[r h] = {mean}"),
        exact_evidence(err, f"exact training mean over 2^8 masks vs the package's eval output at p={p}"),
        check_mean(samples, eval_out, detail="training mean vs eval output, non-inverted"),
    ]


@claim(
    "algorithm.schemes-equivalent",
    title="Inverted and non-inverted dropout are the same network up to W -> qW",
    statement=r"For every mask, a layer $W$ after non-inverted dropout computes exactly what the layer "
    r"$qW$ computes after inverted dropout; in evaluation too ($W (q h) = (qW) h$). The schemes differ "
    r"only in where the factor $q$ is stored.",
    source="srivastava2014dropout",
    catalogue=("P1", "P2"),
)
def schemes_equivalent() -> list[Evidence]:
    p, q = 0.4, 0.6
    g = seeded_generator(14)
    h = torch.randn(64, 10, generator=g, dtype=torch.float64)
    W = torch.randn(5, 10, generator=g, dtype=torch.float64)
    train_plain = F.dropout(h, p, inverted=False, generator=seeded_generator(15)) @ W.T
    train_inverted = F.dropout(h, p, inverted=True, generator=seeded_generator(15)) @ (q * W).T
    eval_plain = F.dropout(h, p, training=False, inverted=False) @ W.T
    eval_inverted = F.dropout(h, p, training=False, inverted=True) @ (q * W).T
    err = max((train_plain - train_inverted).abs().max().item(), (eval_plain - eval_inverted).abs().max().item())
    return [exact_evidence(err, "same generator state -> same mask; 64 inputs, train and eval outputs compared")]


@claim(
    "algorithm.backward-mask",
    title="The backward pass applies the same mask",
    statement=r"For $\tilde h = m \odot h/(1-p)$: $\partial L/\partial h = \partial L/\partial \tilde h \odot m/(1-p)$; "
    r"dropped units get exactly zero gradient.",
    source="srivastava2014dropout",
    catalogue=("P3",),
)
def backward_mask() -> list[Evidence]:
    p = 0.35
    g = seeded_generator(16)
    h = torch.randn(32, 20, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(32, 20, generator=g, dtype=torch.float64)
    out = F.dropout(h, p, generator=seeded_generator(17))
    (grad,) = torch.autograd.grad((out * upstream).sum(), h)
    mask = F.bernoulli_mask(h.shape, 1 - p, generator=seeded_generator(17), dtype=torch.float64)
    err = (grad - upstream * mask / (1 - p)).abs().max().item()
    dropped_zero = bool((grad[mask == 0] == 0).all())
    return [exact_evidence(err if dropped_zero else math.inf,
                   f"autograd vs formula, {int((mask == 0).sum())} dropped units all with zero gradient: {dropped_zero}")]


@claim(
    "algorithm.kept-count-binomial",
    title="The number of kept units is binomial",
    statement=r"$K = \sum_{i=1}^d r_i \sim \mathrm{Binomial}(d, q)$: $\mathbb{E}K = dq$, $\mathrm{Var}K = dq(1-q)$.",
    source="srivastava2014dropout",
    catalogue=("A3",),
)
def kept_count_binomial() -> list[Evidence]:
    d_sym = 4
    rs = gates("r", d_sym)
    K = sum(rs)
    mean = enumerated_expectation(K, rs, q_sym)
    var = enumerated_expectation(K**2, rs, q_sym) - mean**2
    d, q = 12, 0.7
    masks = all_masks(d)
    pmf = torch.zeros(d + 1, dtype=torch.float64).index_add_(0, masks.sum(1).long(), mask_probabilities(masks, q))
    err = float(np.abs(pmf.numpy() - stats.binom.pmf(np.arange(d + 1), d, q)).max())
    counts = F.bernoulli_mask((200_000, d), q, generator=seeded_generator(18), dtype=torch.float64).sum(1)
    return [
        symbolic_evidence(is_zero(mean - d_sym * q_sym) and is_zero(var - d_sym * q_sym * (1 - q_sym)),
                  f"d={d_sym}: E K = {sp.factor(mean)}, Var K = {sp.factor(var)}"),
        exact_evidence(err, f"pmf of K from all 2^{d} masks vs scipy's binomial pmf, q={q}"),
        check_mean(counts, d * q, detail="kept count of the package's masks"),
        check_variance(counts, d * q * (1 - q), detail="its variance"),
    ]


@claim(
    "algorithm.all-dropped",
    title="A whole layer drops with probability p^d",
    statement=r"All $d$ units are dropped with probability $p^d = (1-q)^d$; the next layer then sees only its bias.",
    source="srivastava2014dropout",
    catalogue=("A3", "P14"),
)
def all_dropped() -> list[Evidence]:
    d, p = 10, 0.4
    masks = all_masks(d)
    prob = mask_probabilities(masks, 1 - p)[masks.sum(1) == 0].sum().item()
    layer = torch.nn.Linear(d, 3, dtype=torch.float64)
    only_bias = (layer(F.apply_dropout_mask(torch.ones(d, dtype=torch.float64), torch.zeros(d), p)) - layer.bias).abs().max().item()
    d_mc, p_mc = 3, 0.5
    empty = (F.bernoulli_mask((400_000, d_mc), 1 - p_mc, generator=seeded_generator(19)).sum(1) == 0).double()
    return [
        exact_evidence(abs(prob - p**d) + only_bias, f"d={d}, p={p}: P(all dropped)={prob:.6e} vs p^d={p**d:.6e}; output = bias"),
        check_mean(empty, p_mc**d_mc, detail=f"frequency of all-dropped masks, d={d_mc}, p={p_mc}"),
    ]


@claim(
    "algorithm.subnetworks-and-entropy",
    title="2^d subnetworks at every q; only the mask entropy peaks at q = 1/2",
    statement=r"For every $q \in (0,1)$ all $2^d$ masks have positive probability (the count does not depend on $q$); "
    r"the mask entropy $d\,H_b(q)$ is maximal, $d \log 2$, at $q = 1/2$, where all masks are equally likely.",
    source="srivastava2014dropout",
    catalogue=("A4", "P7"),
)
def subnetworks_and_entropy() -> list[Evidence]:
    H = binary_entropy(q_sym)
    stationary = sp.solve(sp.diff(H, q_sym), q_sym)
    concave = sp.simplify(sp.diff(H, q_sym, 2) + 1 / (q_sym * (1 - q_sym))) == 0
    d = 10
    masks = all_masks(d)
    worst = 0.0
    counts = []
    for q in (0.1, 0.3, 0.5, 0.9):
        probs = mask_probabilities(masks, q)
        counts.append(int((probs > 0).sum()))
        entropy = -(probs * probs.log()).sum().item()
        worst = max(worst, abs(entropy - d * (-q * math.log(q) - (1 - q) * math.log(1 - q))), abs(probs.sum().item() - 1))
    uniform_at_half = mask_probabilities(masks, 0.5).unique().numel() == 1
    return [
        symbolic_evidence(stationary == [sp.Rational(1, 2)] and concave, f"H_b'(q)=0 only at q={stationary}; H_b''(q) = -1/(q(1-q)) < 0"),
        exact_evidence(worst if counts == [2**d] * 4 and uniform_at_half else math.inf,
               f"d={d}: positive-probability masks at q=.1,.3,.5,.9: {counts}; entropy by enumeration = d H_b(q)"),
    ]


@claim(
    "algorithm.half-maximises-subnetworks",
    title="Refuted: p = 0.5 maximises the number of subnetworks",
    statement=r"(A popular statement.) Dropping with $p = 0.5$ yields more distinct subnetworks than other $p$.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("P7", "N4"),
)
def half_maximises_subnetworks() -> list[Evidence]:
    d = 10
    masks = all_masks(d)
    counts = {q: int((mask_probabilities(masks, q) > 0).sum()) for q in (0.2, 0.5, 0.8)}
    more_at_half = counts[0.5] > max(counts[0.2], counts[0.8])
    return [Evidence("exact", more_at_half, f"positive-probability masks, d={d}: {counts}")]
