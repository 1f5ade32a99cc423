"""Claims of the chapter *The ensemble of 2^d subnetworks* (book/ensemble.md).

Catalogue items B4, B5, B6, D1, D2, G2, N12 and audit rows P4, P5, P22. ``p`` is the drop
probability and ``q = 1 - p`` the keep probability; Baldi & Sadowski write p for *keep*.
"""

from __future__ import annotations

import math

import sympy as sp
import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, expectation_over_masks
from dropout_theory.inference import exact_ensemble, subnetwork_outputs, weight_scaled, weighted_means
from dropout_theory.inference.nwgm import (
    bound_gaps,
    nwgm_gap_second_order,
    recorded_nwgm_gap,
    second_order_relative_error,
)
from dropout_theory.inference.subnetwork_sampling import distinct_masks_expected, mc_error_slope
from dropout_theory.montecarlo import check_estimate, check_mean
from dropout_theory.nn import Dropout
from dropout_theory.symbolic import bernoulli_expectation, enumerated_expectation, gates, is_zero

# A gap counts as "not exact" when it is this far above float64 rounding (~1e-15 here).
GAP_THRESHOLD = 1e-8
q_sym = sp.Symbol("q", positive=True)



def _gap(gap: float, detail: str) -> Evidence:
    """Evidence that two quantities differ: the gap exceeds GAP_THRESHOLD."""
    return Evidence("exact", bool(gap > GAP_THRESHOLD), detail, estimate=float(gap), target=0.0, tolerance=GAP_THRESHOLD)


def _seeded_net(*modules: nn.Module, seed: int, scale: float = 1.0) -> nn.Sequential:
    """float64 Sequential with N(0, scale^2/fan_in) weights from a seeded generator."""
    net = nn.Sequential(*modules).double()
    g = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for param in net.parameters():
            fan_in = param.shape[-1] if param.ndim > 1 else 1
            param.copy_(torch.randn(param.shape, generator=g, dtype=torch.float64) * scale / math.sqrt(fan_in))
    return net


def _inputs(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=seeded_generator(seed, "cpu"), dtype=torch.float64)


def _max(t: torch.Tensor) -> float:
    return float(t.abs().max())


def logistic_unit(d: int, p: float, *, seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    """A logistic unit sigma(b + sum_i delta_i w_i I_i) with non-inverted dropout on its d inputs."""
    return _seeded_net(Dropout(p, inverted=False), nn.Linear(d, 1), seed=seed, scale=2.0), _inputs((5, d), seed + 1)


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
    err_engine = _max(result.nwgm - scaled)
    g = seeded_generator(101, "cpu")
    worst = 0.0
    for _ in range(300):
        values = torch.randn(64, 1, generator=g, dtype=torch.float64) * 3
        weights = torch.rand(64, generator=g, dtype=torch.float64) ** 4  # far from Bernoulli-product weights
        weights /= weights.sum()
        worst = max(worst, _max(weighted_means(values, weights, link="sigmoid").nwgm - torch.sigmoid(weights @ values)))
    return [
        Evidence("symbolic", symbolic_ok and mean_ok,
                 f"log(G/G') = sum_k P_k S_k for {n} symbolic values and weights; E[S] = q sum w_i I_i (d={ds})"),
        exact_evidence(err_engine, f"all 2^14 subnetworks, q=0.7, 5 inputs: max |NWGM - sigma(weight-scaled)|; "
                           f"E[O] differs from it by up to {_max(result.mean - scaled):.3g}"),
        exact_evidence(worst, "300 arbitrary distributions over 64 values of S: max |NWGM - sigma(E S)|"),
    ]


def softmax_layer(d: int, classes: int, p: float, *, seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    return _seeded_net(Dropout(p, inverted=False), nn.Linear(d, classes), seed=seed, scale=2.0), _inputs((3, d), seed + 1)


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
        exact_evidence(_max(result.nwgm - scaled), "all 2^12 subnetworks, q=0.6, 4 classes, 3 inputs: max |NWGM - softmax(qWv+b)|"),
        Evidence("exact", bool((margin > 0).all()),
                 "log NWGM_c - sum P log f_c = -log sum_c G_c, the same for every class: smallest value over inputs",
                 estimate=float(margin.min()), target=0.0),
    ]


def linear_stack(seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    """Three linear layers with dropout before each: 5 + 4 + 3 = 12 units, mixed conventions."""
    net = _seeded_net(Dropout(0.3, inverted=False), nn.Linear(5, 4), Dropout(0.5), nn.Linear(4, 3),
                      Dropout(0.2, inverted=False), nn.Linear(3, 2), seed=seed)
    return net, _inputs((4, 5), seed + 1)


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
        exact_evidence(_max(result.mean - ws), "3 linear layers, 12 enumerated units (p = .3, .5 inverted, .2), 4 inputs"),
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
        exact_evidence(_max(tied - scaled), f"d={d}, q={q}, one mask on both layers, all 2^{d} masks: max |E y - weight-scaled|"),
    ]


ROUNDING = 1e-15


@claim(
    "ensemble.nwgm-bounds",
    title="G <= NWGM <= E when all subnetworks output at most 1/2, and the mirror image above 1/2",
    statement=r"If every subnetwork output $O_k \in (0, \tfrac12]$ then $G \le \mathrm{NWGM} \le E$. "
    r"If every $O_k \in [\tfrac12, 1)$ then $E \le \mathrm{NWGM} \le 1 - G'$ (apply the first case to $1 - O$). "
    r"$G \le \mathrm{NWGM}$ holds for every distribution, since $G + G' \le 1$.",
    source="baldi2013understanding",
    catalogue=("B5",),
)
def nwgm_bounds() -> list[Evidence]:
    lower = bound_gaps(300, 140, upper_half=False)
    upper = bound_gaps(300, 141, upper_half=True)
    worst_net = -math.inf
    for seed in range(30):  # real dropout networks: logistic units whose every subnetwork has S <= 0
        d = 4 + seed % 7
        net = _seeded_net(Dropout(0.5, inverted=False), nn.Linear(d, 1), seed=150 + seed)
        with torch.no_grad():
            net[1].weight.abs_().neg_()
            net[1].bias.abs_().neg_()
        r = exact_ensemble(net, _inputs((1, d), 200 + seed).abs(), link="sigmoid")
        worst_net = max(worst_net, float(r.geometric - r.nwgm), float(r.nwgm - r.mean))
    return [
        exact_evidence(max(lower["G <= NWGM"], lower["NWGM <= E"], 0.0),
               "300 random distributions over 8..128 outputs in (0, 1/2]: largest violation of G <= NWGM <= E", tol=ROUNDING),
        exact_evidence(max(upper["E <= NWGM"], upper["NWGM <= 1 - G'"], upper["G <= NWGM"], 0.0),
               "300 random cases with outputs in [1/2, 1): largest violation of E <= NWGM <= 1 - G' and G <= NWGM",
               tol=ROUNDING),
        exact_evidence(max(worst_net, 0.0), "30 logistic units with S <= 0 under dropout (d = 4..10, all masks)", tol=ROUNDING),
    ]


@claim(
    "ensemble.nwgm-bounds-full-reversal",
    title="Refuted: on [1/2, 1) the whole chain reverses, G >= NWGM >= E",
    statement=r"(A literal reading of 'the inequalities reverse'.) If every $O_k \in [\tfrac12, 1)$ then "
    r"$G \ge \mathrm{NWGM} \ge E$.",
    source="baldi2013understanding",
    expectation="refuted",
    catalogue=("B5",),
)
def nwgm_bounds_full_reversal() -> list[Evidence]:
    upper = bound_gaps(300, 141, upper_half=True)
    return [exact_evidence(max(upper["NWGM <= G"], 0.0),
                   "300 random cases with outputs in [1/2, 1): largest violation of NWGM <= G", tol=ROUNDING)]


SECOND_ORDER_SCALES = (0.2, 0.05)


@claim(
    "ensemble.nwgm-second-order-recalled",
    title="Refuted: E - NWGM ≈ V(1-2E)/(1-2V) to second order",
    statement=r"(The second-order estimate attributed to Baldi & Sadowski in our catalogue, unconfirmed against the "
    r"paper.) For a logistic unit under dropout, $E - \mathrm{NWGM} \approx V(1-2E)/(1-2V)$, $V = \mathrm{Var}\,O$, "
    r"with a relative error that vanishes as the spread of $S$ shrinks.",
    source="baldi2013understanding",
    expectation="refuted",
    catalogue=("B5",),
)
def nwgm_second_order_recalled() -> list[Evidence]:
    wide, narrow = (second_order_relative_error(recorded_nwgm_gap, s, 300) for s in SECOND_ORDER_SCALES)
    return [Evidence(
        "exact", bool(narrow < 0.1 and narrow < wide / 4),
        f"30 logistic units, d=10, q=1/2, all masks: median relative error {wide:.3f} at weight scale "
        f"{SECOND_ORDER_SCALES[0]}, {narrow:.3f} at {SECOND_ORDER_SCALES[1]} (a second-order estimate would fall "
        f"about 16-fold and below 0.1)", estimate=narrow, target=0.0, tolerance=0.1)]


@claim(
    "ensemble.nwgm-second-order",
    title="E - NWGM = V(1-2E)/(2E(1-E)) to second order",
    statement=r"For $O = \sigma(S)$ with $\mathrm{Var}\,S \to 0$: $E - \mathrm{NWGM} = \frac{V(1-2E)}{2E(1-E)} + "
    r"o(V)$, where $E = \mathbb{E}O$, $V = \mathrm{Var}\,O$.",
    source="baldi2013understanding",
    catalogue=("B5",),
)
def nwgm_second_order() -> list[Evidence]:
    mu = sp.Symbol("mu", real=True)
    sig = 1 / (1 + sp.exp(-mu))
    # E - NWGM ≈ sigma''(mu) s^2 / 2 and V ≈ sigma'(mu)^2 s^2, so their ratio is sigma''/(2 sigma'^2).
    ratio = sp.diff(sig, mu, 2) / (2 * sp.diff(sig, mu) ** 2)
    symbolic_ok = is_zero(ratio - (1 - 2 * sig) / (2 * sig * (1 - sig)))
    wide, narrow = (second_order_relative_error(nwgm_gap_second_order, s, 300) for s in SECOND_ORDER_SCALES)
    return [
        Evidence("symbolic", symbolic_ok, "sigma''/(2 sigma'^2) = (1 - 2 sigma)/(2 sigma (1 - sigma))"),
        Evidence("exact", bool(narrow < 0.1 and narrow < wide / 4),
                 f"same 30 units: median relative error {wide:.2e} at weight scale {SECOND_ORDER_SCALES[0]}, "
                 f"{narrow:.2e} at {SECOND_ORDER_SCALES[1]}", estimate=narrow, target=0.0, tolerance=0.1),
    ]


def relu_net(seed: int, p: float = 0.5) -> tuple[nn.Sequential, torch.Tensor]:
    """4 -> 6 -> 6 -> 3 with (inverted) dropout on both hidden layers: 12 enumerated units."""
    net = _seeded_net(nn.Linear(4, 6), nn.ReLU(), Dropout(p), nn.Linear(6, 6), nn.ReLU(), Dropout(p),
                      nn.Linear(6, 3), seed=seed, scale=2.0)
    return net, _inputs((6, 4), seed + 1)


def _relu_gaps(seed: int) -> tuple[float, float, float]:
    net, x = relu_net(seed)
    result = exact_ensemble(net, x, link="softmax")
    with torch.no_grad():
        ws = torch.softmax(weight_scaled(net)(x), -1)
        for i in (1, 4):
            net[i] = nn.Identity()  # the same network without its nonlinearities: a control
        control = exact_ensemble(net, x)
        control_ws = weight_scaled(net)(x)
    return _max(ws - result.mean), _max(ws - result.nwgm), _max(control.mean - control_ws)


@claim(
    "ensemble.deep-nonlinear-approximate",
    title="With hidden nonlinearities weight scaling is only an approximation",
    statement=r"For a network with ReLU hidden layers and dropout on them, the weight-scaled prediction equals "
    r"neither the arithmetic mean nor the normalised geometric mean of the subnetworks' predictions.",
    source="srivastava2014dropout,wardefarley2014empirical",
    catalogue=("D1", "D2", "P4"),
)
def deep_nonlinear_approximate() -> list[Evidence]:
    to_mean, to_nwgm, control = _relu_gaps(160)
    return [
        _gap(to_mean, "4-6-6-3 ReLU net, p=.5 on both hidden layers, all 2^12 masks, 6 inputs: max |WS - E| "
                      "over class probabilities"),
        _gap(to_nwgm, "same: max |WS - NWGM|"),
        exact_evidence(control, "control: the same weights with the ReLUs removed give |E - WS| at rounding level"),
    ]


@claim(
    "ensemble.weight-scaling-arithmetic-average",
    title="Refuted: weight scaling computes the ensemble's average prediction",
    statement=r"(A common statement.) The weight-scaled network outputs the arithmetic average "
    r"$\sum_m P(m) f(x; m)$ of the $2^d$ subnetworks' predictions.",
    source="srivastava2014dropout",
    expectation="refuted",
    catalogue=("N12", "P4"),
)
def weight_scaling_arithmetic_average() -> list[Evidence]:
    net, x = logistic_unit(10, 0.5, seed=170)
    result = exact_ensemble(net, x, link="sigmoid")
    with torch.no_grad():
        ws = torch.sigmoid(weight_scaled(net)(x))
    to_mean, _, _ = _relu_gaps(160)
    return [
        exact_evidence(_max(ws - result.mean), "a single logistic unit, d=10, q=1/2: max |WS - E[O]| over 5 inputs"),
        exact_evidence(to_mean, "the 4-6-6-3 ReLU network: max |WS - E|"),
    ]


@claim(
    "ensemble.weight-scaling-corrected",
    title="What weight scaling computes (corrected statement)",
    statement=r"Weight scaling gives the normalised weighted geometric mean of the subnetworks exactly for a single "
    r"logistic or softmax layer, and the arithmetic mean exactly for deep linear networks with independent masks; "
    r"otherwise it approximates both.",
    source="baldi2013understanding,hinton2012improving",
    catalogue=("P4", "D1", "D2"),
)
def weight_scaling_corrected() -> list[Evidence]:
    net, x = logistic_unit(10, 0.5, seed=170)
    logistic = exact_ensemble(net, x, link="sigmoid")
    soft_net, sx = softmax_layer(10, 3, 0.25, seed=171)
    soft = exact_ensemble(soft_net, sx, link="softmax")
    lin_net, lx = linear_stack(172)
    lin = exact_ensemble(lin_net, lx)
    with torch.no_grad():
        errors = (_max(torch.sigmoid(weight_scaled(net)(x)) - logistic.nwgm),
                  _max(torch.softmax(weight_scaled(soft_net)(sx), -1) - soft.nwgm),
                  _max(weight_scaled(lin_net)(lx) - lin.mean))
    to_mean, to_nwgm, _ = _relu_gaps(160)
    return [
        exact_evidence(max(errors), "logistic (d=10), softmax (d=10, 3 classes), deep linear (12 units): largest error "
                            f"{errors}"),
        _gap(min(to_mean, to_nwgm), "ReLU hidden layers: smaller of max |WS - E| and max |WS - NWGM|"),
    ]


@claim(
    "ensemble.mc-inverse-sqrt",
    title="Monte Carlo averaging of T subnetworks: error ∝ 1/√T",
    statement=r"The average of $T$ sampled subnetworks (MC dropout, $\frac1T\sum_t f(x; m_t)$) is unbiased for the "
    r"exact mask average, and its root-mean-square error is $\sigma/\sqrt T$: on a log-log plot the error falls "
    r"with slope $-1/2$.",
    source="gal2016dropout,srivastava2014dropout",
    catalogue=("P5", "G2"),
)
def mc_inverse_sqrt() -> list[Evidence]:
    fit = mc_error_slope(seed=180)
    return [
        check_estimate(fit.slope_estimate, -0.5,
                       detail=f"OLS slope of log RMSE on log T, T = 1..{fit.sizes[-1]}, {fit.repetitions} repetitions "
                              f"per T; SE from the exact moments of the {2 ** fit.units} subnetwork outputs"),
        check_mean(fit.pooled_samples, fit.exact_mean, detail="all sampled subnetwork outputs vs the exact mask average"),
    ]


@claim(
    "ensemble.bagging-vs-dropout",
    title="Dropout vs bagging: shared weights, about one step per subnetwork",
    statement=r"Like bagging, dropout averages many models. Unlike bagging, (i) the models share parameters: "
    r"changing one input weight of unit $j$ changes exactly the $2^{d-1}$ subnetworks that keep $j$; "
    r"(ii) each model is trained only when its mask is drawn: in $S \ll 2^d$ steps about $S$ distinct "
    r"subnetworks are trained, each for about one step, instead of each model to convergence.",
    source="breiman1996bagging,srivastava2014dropout",
    catalogue=("P22",),
)
def bagging_vs_dropout() -> list[Evidence]:
    d, j = 8, 3
    net = _seeded_net(Dropout(0.5), nn.Linear(d, 5), nn.ReLU(), nn.Linear(5, 1), seed=190)
    x = _inputs((1, d), 191)
    masks = all_masks(d)
    before = subnetwork_outputs(net, x, masks)
    with torch.no_grad():
        net[1].weight[:, j] += 0.1
    changed = (subnetwork_outputs(net, x, masks) - before).abs().reshape(len(masks), -1).amax(1) > 0
    shared_ok = bool(torch.equal(changed, masks[:, j] > 0))
    units, steps, reps = 20, 20_000, 40
    expected = distinct_masks_expected(units, 0.5, steps)
    g = seeded_generator(192, "cpu")
    powers = 2 ** torch.arange(units, dtype=torch.int64)
    counts = torch.tensor([
        float(torch.unique((F.bernoulli_mask((steps, units), 0.5, generator=g, dtype=torch.int64) * powers).sum(1)).numel())
        for _ in range(reps)
    ], dtype=torch.float64)
    return [
        Evidence("exact", shared_ok, f"d={d}: perturbing column {j} of the first layer changed {int(changed.sum())} of "
                                     f"{len(masks)} subnetworks, exactly those with m_{j} = 1"),
        check_mean(counts, expected, detail=f"distinct masks among {steps:,} steps, d={units}, p=1/2 "
                                            f"(exact expectation {expected:,.1f}: {steps / expected:.3f} steps per "
                                            f"trained subnetwork; {expected / 2 ** units:.2%} of all subnetworks)"),
    ]
