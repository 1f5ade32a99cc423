"""Ensemble claims where weight scaling is exact: one logistic unit, one softmax layer, deep linear
networks; and the tied-mask case where it is not.

Catalogue items B4, B6, D1, D2. ``p`` is the drop probability and ``q = 1 - p`` the keep
probability; Baldi & Sadowski write p for *keep*.
"""

from __future__ import annotations

import sympy as sp
import torch

from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.claims.ensemble.networks import linear_stack, logistic_unit, max_abs, softmax_layer
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import expectation_over_masks
from dropout_theory.inference import exact_ensemble, weight_scaled, weighted_means
from dropout_theory.symbolic import bernoulli_expectation, enumerated_expectation, gates, is_zero

q_sym = sp.Symbol("q", positive=True)


@claim(
    "ensemble.logistic-nwgm",
    title="One logistic unit: the NWGM of all subnetworks is the weight-scaled unit",
    statement=r"For $O = \sigma(S)$ and any distribution $P$ over the values $S_k$ (in particular over "
    r"the $2^d$ dropout subnetworks), $\mathrm{NWGM} = G/(G+G') = \sigma(\mathbb{E}[S])$ with "
    r"$G = \prod_k O_k^{P_k}$, $G' = \prod_k (1-O_k)^{P_k}$. Under dropout, "
    r"$\mathbb{E}[S] = b + q\sum_i w_i I_i$: the weight-scaled unit.",
    source="baldi2013understanding",
    catalogue=("B4", "D2"),
)
def logistic_nwgm() -> list[Evidence]:
    n = 4
    s = sp.symbols("s1:5", real=True)
    P = sp.symbols("P1:5", positive=True)
    sig = [1 / (1 + sp.exp(-sk)) for sk in s]
    # log(G/G') = sum_k P_k log(O_k/(1-O_k)); O/(1-O) simplifies to exp(S).
    log_odds = sum(Pk * sp.log(sp.simplify(o / (1 - o))) for Pk, o in zip(P, sig))
    symbolic_ok = is_zero(sp.expand_log(log_odds, force=True) - sum(Pk * sk for Pk, sk in zip(P, s)))
    ds = 3
    r, w, I = gates("r", ds), sp.symbols("w1:4", real=True), sp.symbols("I1:4", real=True)
    S = sum(ri * wi * Ii for ri, wi, Ii in zip(r, w, I))
    mean_ok = is_zero(bernoulli_expectation(S, r, q_sym) - q_sym * sum(wi * Ii for wi, Ii in zip(w, I)))

    net, x = logistic_unit(14, 0.3, seed=100)
    result = exact_ensemble(net, x, link="sigmoid")
    with torch.no_grad():
        scaled = torch.sigmoid(weight_scaled(net)(x))
    err_engine = max_abs(result.nwgm - scaled)
    g = seeded_generator(101, "cpu")
    worst = 0.0
    for _ in range(300):
        values = torch.randn(64, 1, generator=g, dtype=torch.float64) * 3
        weights = torch.rand(64, generator=g, dtype=torch.float64) ** 4  # far from Bernoulli-product weights
        weights /= weights.sum()
        worst = max(worst, max_abs(weighted_means(values, weights, link="sigmoid").nwgm - torch.sigmoid(weights @ values)))
    return [
        Evidence("symbolic", symbolic_ok and mean_ok,
                 f"log(G/G') = sum_k P_k S_k for {n} symbolic values and weights; E[S] = q sum w_i I_i (d={ds})"),
        exact_evidence(err_engine, f"all 2^14 subnetworks, q=0.7, 5 inputs: max |NWGM - sigma(weight-scaled)|; "
                           f"E[O] differs from it by up to {max_abs(result.mean - scaled):.3g}"),
        exact_evidence(worst, "300 arbitrary distributions over 64 values of S: max |NWGM - sigma(E S)|"),
    ]


@claim(
    "ensemble.softmax-nwgm",
    title="One softmax layer: the normalised geometric mean is the weight-scaled layer",
    statement=r"For a softmax layer $\mathrm{softmax}(W(m \odot v) + b)$ with keep-masks $m$, the normalised "
    r"geometric mean of the $2^N$ subnetworks' distributions is exactly $\mathrm{softmax}(qWv + b)$; and it gives "
    r"each class at least the mean log-probability: $\log \mathrm{NWGM}_c \ge \sum_m P(m) \log f_c(m)$, with "
    r"equality only if all subnetworks agree.",
    source="hinton2012improving,goodfellow2016deep",
    catalogue=("D1",),
)
def softmax_nwgm() -> list[Evidence]:
    r = gates("m", 2)
    W = sp.Matrix(3, 2, sp.symbols("W1:7", real=True))
    b, v = sp.symbols("b1:4", real=True), sp.symbols("v1:3", real=True)
    z = [b[c] + sum(W[c, i] * r[i] * v[i] for i in range(2)) for c in range(3)]
    log_softmax = [zc - sp.log(sum(sp.exp(zk) for zk in z)) for zc in z]
    # log G_c - log G_0 = E[log softmax_c - log softmax_0]: the normaliser cancels inside.
    diffs_ok = all(
        is_zero(enumerated_expectation(sp.simplify(log_softmax[c] - log_softmax[0]), r, q_sym)
                - (bernoulli_expectation(z[c], r, q_sym) - bernoulli_expectation(z[0], r, q_sym)))
        for c in (1, 2)
    )
    scaled_ok = all(is_zero(bernoulli_expectation(z[c], r, q_sym) - (b[c] + q_sym * sum(W[c, i] * v[i] for i in range(2))))
                    for c in range(3))
    net, x = softmax_layer(12, 4, 0.4, seed=110)
    result = exact_ensemble(net, x, link="softmax")
    with torch.no_grad():
        scaled = torch.softmax(weight_scaled(net)(x), -1)
    # log NWGM_c - E log f_c = -log sum_c' G_c' >= 0 (AM-GM: G_c' <= E f_c').
    margin = -torch.log(result.geometric.sum(-1))
    return [
        Evidence("symbolic", diffs_ok and scaled_ok,
                 "2 inputs, 3 classes, symbolic W, b, v, q: log G_c - log G_0 = E z_c - E z_0, E z = qWv + b"),
        exact_evidence(max_abs(result.nwgm - scaled), "all 2^12 subnetworks, q=0.6, 4 classes, 3 inputs: max |NWGM - softmax(qWv+b)|"),
        Evidence("exact", bool((margin > 0).all()),
                 "log NWGM_c - sum P log f_c = -log sum_c G_c, the same for every class: smallest value over inputs",
                 estimate=float(margin.min()), target=0.0),
    ]


@claim(
    "ensemble.deep-linear-exact",
    title="Deep linear networks: the mask average is the weight-scaled network",
    statement=r"With independent masks in every layer, a network of linear layers averaged over all masks equals "
    r"the weight-scaled network exactly: $\mathbb{E}_m[f(x; m)] = f_{\text{scaled}}(x)$.",
    source="baldi2013understanding",
    catalogue=("B6", "D2"),
)
def deep_linear_exact() -> list[Evidence]:
    m, n = gates("m", 2), gates("n", 2)
    W1 = sp.Matrix(2, 2, sp.symbols("a1:5", real=True))
    W2 = sp.Matrix(1, 2, sp.symbols("c1:3", real=True))
    b1 = sp.Matrix(sp.symbols("b1:3", real=True))
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    hidden = W1 * sp.Matrix([m[0] * x[0], m[1] * x[1]]) + b1
    out = (W2 * sp.Matrix([n[0] * hidden[0], n[1] * hidden[1]]))[0]
    scaled = (q_sym * W2 * (q_sym * W1 * x + b1))[0]
    symbolic_ok = is_zero(bernoulli_expectation(out, m + n, q_sym) - scaled)
    net, xs = linear_stack(120)
    result = exact_ensemble(net, xs)
    with torch.no_grad():
        ws = weight_scaled(net)(xs)
    return [
        Evidence("symbolic", symbolic_ok, "2 -> 2 -> 1 with masks on both layers, symbolic weights, bias and q"),
        exact_evidence(max_abs(result.mean - ws), "3 linear layers, 12 enumerated units (p = .3, .5 inverted, .2), 4 inputs"),
    ]


@claim(
    "ensemble.tied-masks-exact",
    title="Refuted: weight scaling stays exact when one mask is used twice",
    statement=r"(A tempting extension of the deep-linear result.) If the *same* mask $m$ multiplies two layers of a "
    r"linear network (tied masks, as in variational RNN dropout), the average over masks still equals the "
    r"weight-scaled network.",
    source="baldi2013understanding,gal2016theoretically",
    expectation="refuted",
    catalogue=("B6", "G6"),
)
def tied_masks_exact() -> list[Evidence]:
    (m,) = gates("m", 1)
    w1, w2, x = sp.symbols("w1 w2 x", real=True)
    mean = bernoulli_expectation(w2 * m * (w1 * m * x), [m], q_sym)
    diff = sp.factor(mean - w2 * q_sym * (w1 * q_sym * x))
    d, p = 6, 0.4
    q = 1 - p
    g = seeded_generator(130, "cpu")
    W1 = torch.randn(d, d, generator=g, dtype=torch.float64)
    W2 = torch.randn(2, d, generator=g, dtype=torch.float64)
    xv = torch.randn(d, generator=g, dtype=torch.float64)
    tied = expectation_over_masks(lambda ms: ((ms * ((ms * xv) @ W1.T)) @ W2.T), d, q)
    scaled = (q * ((q * xv) @ W1.T)) @ W2.T
    return [
        Evidence("symbolic", is_zero(diff), f"y = w2 m (w1 m x): E[y] - weight-scaled = {diff} (E m^2 = q, not q^2)"),
        exact_evidence(max_abs(tied - scaled), f"d={d}, q={q}, one mask on both layers, all 2^{d} masks: max |E y - weight-scaled|"),
    ]
