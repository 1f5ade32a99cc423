r"""The normalised weighted geometric mean (NWGM) of logistic outputs: bounds and its gap to E.

For subnetwork outputs :math:`O_m \in (0, 1)` with probabilities :math:`P(m)`, write
:math:`E = \sum P O`, :math:`V = \sum P (O - E)^2`, :math:`G = \prod O^{P}`,
:math:`G' = \prod (1-O)^{P}` and :math:`\mathrm{NWGM} = G/(G+G')`.

* :func:`nwgm_gap_second_order` is the leading term of :math:`E - \mathrm{NWGM}` for a
  logistic unit, derived in the chapter: :math:`V(1-2E)/(2E(1-E))`.
* :func:`recorded_nwgm_gap` is the estimate :math:`V(1-2E)/(1-2V)` as our catalogue records
  it for Baldi & Sadowski (2013) (unconfirmed against the paper); enumeration shows it is off
  by about a factor of two.
* :func:`bound_gaps` and :func:`second_order_relative_error` are the numerical studies that
  check the bounds and the estimates by exact enumeration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.inference.ensemble import exact_ensemble, weighted_means
from dropout_theory.nn import Dropout


def nwgm_gap_second_order(mean: float, var: float) -> float:
    r""":math:`E - \mathrm{NWGM} \approx V(1-2E)/(2E(1-E))` (leading order as :math:`\mathrm{Var}\,S \to 0`)."""
    return var * (1 - 2 * mean) / (2 * mean * (1 - mean))


def recorded_nwgm_gap(mean: float, var: float) -> float:
    r""":math:`V(1-2E)/(1-2V)`: the estimate as recorded in the catalogue (item B5, unconfirmed)."""
    return var * (1 - 2 * mean) / (1 - 2 * var)


def bound_gaps(count: int, seed: int, upper_half: bool) -> dict[str, float]:
    """Largest value of ``left - right`` for each inequality ``left <= right`` over random cases.

    Each case is a distribution over 8..128 logistic outputs, all in (0, 1/2] (or all in
    [1/2, 1) when ``upper_half``), with Bernoulli-product weights of a random q. A value
    <= 0 means the inequality held in every case.
    """
    g = seeded_generator(seed, "cpu")
    worst: dict[str, float] = {}
    for k in range(count):
        d = 3 + k % 5
        values = -torch.rand(2**d, 1, generator=g, dtype=torch.float64) * 6  # S <= 0: outputs in (0, 1/2]
        if upper_half:
            values = -values
        weights = mask_probabilities(all_masks(d), float(torch.rand(1, generator=g)) * 0.9 + 0.05)
        r = weighted_means(values, weights, link="sigmoid")
        pairs = {"G <= NWGM": (r.geometric, r.nwgm), "NWGM <= E": (r.nwgm, r.mean), "E <= NWGM": (r.mean, r.nwgm),
                 "NWGM <= 1 - G'": (r.nwgm, 1 - r.complement_geometric), "NWGM <= G": (r.nwgm, r.geometric)}
        for name, (left, right) in pairs.items():
            worst[name] = max(worst.get(name, -math.inf), float(left - right))
    return worst


def second_order_relative_error(
    estimate: Callable[[float, float], float], scale: float, seed: int, trials: int = 30, units: int = 10
) -> float:
    r"""Median relative error of ``estimate(E, V)`` for :math:`E - \mathrm{NWGM}`, exactly enumerated.

    Each trial is a logistic unit with non-inverted dropout (:math:`q = 1/2`) on ``units``
    standard-normal inputs, weights :math:`\mathcal N(0, \text{scale}^2/\text{units})` and a
    standard-normal bias, all seeded; ``scale`` sets the spread of :math:`S`.
    """
    errors = []
    for t in range(trials):
        g = seeded_generator(seed + t, "cpu")
        net = nn.Sequential(Dropout(0.5, inverted=False), nn.Linear(units, 1)).double()
        with torch.no_grad():
            net[1].weight.copy_(torch.randn(1, units, generator=g, dtype=torch.float64) * scale / math.sqrt(units))
            net[1].bias.copy_(torch.randn(1, generator=g, dtype=torch.float64))
        x = torch.randn(1, units, generator=g, dtype=torch.float64)
        r = exact_ensemble(net, x, link="sigmoid")
        mean, var, nwgm = float(r.mean), float(r.var), float(r.nwgm)
        errors.append(abs(estimate(mean, var) - (mean - nwgm)) / abs(mean - nwgm))
    return float(np.median(errors))
