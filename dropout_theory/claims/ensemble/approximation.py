"""Ensemble claims where weight scaling only approximates the ensemble: hidden nonlinearities, what
weight scaling computes, Monte Carlo averaging, and dropout vs bagging.

Catalogue items D1, D2, G2, N12 and audit rows P4, P5, P22.
"""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.claims.ensemble.networks import (
    linear_stack,
    logistic_unit,
    max_abs,
    seeded_inputs,
    seeded_net,
    softmax_layer,
)
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks
from dropout_theory.inference import exact_ensemble, subnetwork_outputs, weight_scaled
from dropout_theory.inference.subnetwork_sampling import distinct_masks_expected, mc_error_slope
from dropout_theory.montecarlo import check_estimate, check_mean
from dropout_theory.nn import Dropout

# A gap counts as "not exact" when it is this far above float64 rounding (~1e-15 here).
GAP_THRESHOLD = 1e-8


def _gap(gap: float, detail: str) -> Evidence:
    """Evidence that two quantities differ: the gap exceeds GAP_THRESHOLD."""
    return Evidence("exact", bool(gap > GAP_THRESHOLD), detail, estimate=float(gap), target=0.0, tolerance=GAP_THRESHOLD)


def relu_net(seed: int, p: float = 0.5) -> tuple[nn.Sequential, torch.Tensor]:
    """4 -> 6 -> 6 -> 3 with (inverted) dropout on both hidden layers: 12 enumerated units."""
    net = seeded_net(nn.Linear(4, 6), nn.ReLU(), Dropout(p), nn.Linear(6, 6), nn.ReLU(), Dropout(p),
                     nn.Linear(6, 3), seed=seed, scale=2.0)
    return net, seeded_inputs((6, 4), seed + 1)


def _relu_gaps(seed: int) -> tuple[float, float, float]:
    net, x = relu_net(seed)
    result = exact_ensemble(net, x, link="softmax")
    with torch.no_grad():
        ws = torch.softmax(weight_scaled(net)(x), -1)
        for i in (1, 4):
            net[i] = nn.Identity()  # the same network without its nonlinearities: a control
        control = exact_ensemble(net, x)
        control_ws = weight_scaled(net)(x)
    return max_abs(ws - result.mean), max_abs(ws - result.nwgm), max_abs(control.mean - control_ws)


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
        exact_evidence(max_abs(ws - result.mean), "a single logistic unit, d=10, q=1/2: max |WS - E[O]| over 5 inputs"),
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
        errors = (max_abs(torch.sigmoid(weight_scaled(net)(x)) - logistic.nwgm),
                  max_abs(torch.softmax(weight_scaled(soft_net)(sx), -1) - soft.nwgm),
                  max_abs(weight_scaled(lin_net)(lx) - lin.mean))
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
    net = seeded_net(Dropout(0.5), nn.Linear(d, 5), nn.ReLU(), nn.Linear(5, 1), seed=190)
    x = seeded_inputs((1, d), 191)
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
