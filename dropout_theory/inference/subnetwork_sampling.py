r"""Sampled subnetworks versus the full ensemble.

* :func:`mc_error_slope`: how fast the average of :math:`T` sampled subnetworks (MC
  dropout) approaches the exact mask average, with the sampling distribution of the fitted
  log-log slope derived from the *exact* moments of the subnetwork outputs.
* :func:`distinct_masks_expected`: how many different subnetworks :math:`S` training steps
  visit, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.inference.ensemble import subnetwork_outputs
from dropout_theory.montecarlo import Estimate
from dropout_theory.nn import Dropout
from dropout_theory.validation import check_positive_int, check_probability


def distinct_masks_expected(units: int, p: float, steps: int) -> float:
    r"""Expected number of distinct masks among ``steps`` i.i.d. draws over ``units`` units.

    .. math:: \mathbb{E}[\#\text{distinct}] = \sum_m \big(1 - (1 - P(m))^S\big)
              = \sum_{k=0}^{d} \binom{d}{k}\Big(1 - \big(1 - q^k(1-q)^{d-k}\big)^S\Big).
    """
    units = check_positive_int("units", units)
    steps = check_positive_int("steps", steps)
    q = 1.0 - check_probability("p", p)
    total = 0.0
    for k in range(units + 1):
        prob = q**k * (1.0 - q) ** (units - k)
        # 1 - (1 - P)^S computed as -expm1(S log1p(-P)): P is tiny, S large.
        seen = 1.0 if prob == 1.0 else -math.expm1(steps * math.log1p(-prob))
        total += math.comb(units, k) * seen
    return total


@dataclass(frozen=True)
class SlopeFit:
    r"""Result of :func:`mc_error_slope`.

    Attributes:
        sizes: the numbers of samples :math:`T`.
        rmse: root-mean-square error of the :math:`T`-sample average, per :math:`T`.
        predicted_rmse: :math:`\sigma/\sqrt T` from the exact variance.
        slope_estimate: fitted slope of log RMSE on log T with its standard error.
        repetitions: independent repetitions per :math:`T`.
        units: enumerated units of the network.
        exact_mean: exact mask average.
        pooled_samples: every sampled subnetwork output at the largest :math:`T`.
    """

    sizes: tuple[int, ...]
    rmse: np.ndarray
    predicted_rmse: np.ndarray
    slope_estimate: Estimate
    repetitions: int
    units: int
    exact_mean: float
    pooled_samples: np.ndarray


def mc_error_slope(
    *, seed: int, units: int = 8, hidden: int = 16, p: float = 0.5,
    sizes: Sequence[int] = tuple(2**k for k in range(10)), repetitions: int = 1000,
) -> SlopeFit:
    r"""Fit the log-log slope of the MC-dropout error against :math:`T`, with its standard error.

    For each :math:`T`, ``repetitions`` independent averages of :math:`T` subnetworks sampled
    by the network's own training-mode dropout give :math:`\widehat{\mathrm{MSE}}_T`. With the
    exact central moments :math:`\sigma^2, \mu_4` of the subnetwork outputs (all masks
    enumerated), the error :math:`e` of one average has :math:`\mathbb{E}e^2 = \sigma^2/T` and
    :math:`\mathbb{E}e^4 = (\mu_4 + 3(T-1)\sigma^4)/T^3`, so
    :math:`c_T^2 = \mathrm{Var}\,\widehat{\mathrm{MSE}}_T/(\sigma^2/T)^2 = (\mathbb{E}e^4 T^2/\sigma^4 - 1)/R`.
    By the delta method :math:`y_T = \log \widehat{\mathrm{MSE}}_T` has variance
    :math:`c_T^2` and bias :math:`-c_T^2/2` (removed). The ordinary least-squares slope
    :math:`\hat b = \sum_T a_T y_T` with :math:`a_T = (x_T - \bar x)/S_{xx}`, :math:`x = \log T`,
    has variance :math:`\sum_T a_T^2 c_T^2` (independent levels). The RMSE slope is
    :math:`\hat b/2`, expected :math:`-1/2`.
    """
    q = 1.0 - check_probability("p", p)
    net = nn.Sequential(Dropout(p, generator=seeded_generator(seed + 1, "cpu")), nn.Linear(units, hidden), nn.ReLU(),
                        nn.Linear(hidden, 1)).double()
    g = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=g, dtype=torch.float64))
    x = torch.randn(1, units, generator=g, dtype=torch.float64)
    masks = all_masks(units)
    outputs = subnetwork_outputs(net, x, masks).reshape(-1)
    weights = mask_probabilities(masks, q)
    mean = float(weights @ outputs)
    var = float(weights @ (outputs - mean) ** 2)
    mu4 = float(weights @ (outputs - mean) ** 4)
    logs, cv2, rmse = [], [], []
    pooled = np.empty(0)
    was_training = net.training
    net.train()
    try:
        with torch.no_grad():
            for T in sizes:
                samples = net(x.expand(repetitions * T, units)).reshape(repetitions, T)
                errors = samples.mean(1) - mean
                mse = float((errors**2).mean())
                fourth = (mu4 + 3 * (T - 1) * var**2) / T**3
                c2 = (fourth / (var / T) ** 2 - 1) / repetitions
                logs.append(math.log(mse) + c2 / 2)
                cv2.append(c2)
                rmse.append(math.sqrt(mse))
                pooled = samples.reshape(-1).numpy()
    finally:
        net.train(was_training)
    xs = np.log(np.asarray(sizes, dtype=np.float64))
    a = (xs - xs.mean()) / ((xs - xs.mean()) ** 2).sum()
    slope = float(a @ np.asarray(logs)) / 2
    stderr = math.sqrt(float((a**2) @ np.asarray(cv2))) / 2
    return SlopeFit(tuple(sizes), np.asarray(rmse), math.sqrt(var) / np.sqrt(np.asarray(sizes, dtype=np.float64)),
                    Estimate(np.asarray(slope), np.asarray(stderr), repetitions), repetitions, units, mean, pooled)
