r"""Fast dropout (Wang & Manning 2013): integrate the mask out instead of sampling it.

For one unit, the dropped-out sum :math:`S = \sum_i w_i x_i z_i` with independent gates
:math:`z_i \sim \mathrm{Bernoulli}(q_i)` has exact moments

.. math:: \mu_S = \sum_i q_i w_i x_i, \qquad s_S^2 = \sum_i q_i(1-q_i)\, w_i^2 x_i^2,

and for many inputs it is close to :math:`\mathcal N(\mu_S, s_S^2)` (Lyapunov's central limit
theorem). The expected logistic output is then approximated by the probit trick

.. math:: \mathbb{E}\,\sigma(S) \approx \sigma\!\Bigl(\mu_S \big/ \sqrt{1 + \pi s_S^2/8}\Bigr).

Wang & Manning write :math:`p` for the keep probability; the code here takes ``p`` = drop.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dropout_theory.functional.local_reparameterisation import _check_linear
from dropout_theory.validation import check_positive_int, check_probability

#: The probit trick's slope: :math:`\sigma(x) \approx \Phi(\lambda x)` with :math:`\lambda^2 = \pi/8`.
PROBIT_SLOPE_SQUARED = math.pi / 8.0
#: Upper limit of the split integral in :func:`gaussian_sigmoid_mean` (sigmoid(-40) < 1e-17).
_STEP_SPLIT_RANGE = 40.0


def _keep(p: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if isinstance(p, torch.Tensor):
        if p.ndim != 1 or p.shape[0] != x.shape[-1]:
            raise ValueError(f"a per-input p must have shape ({x.shape[-1]},), got {tuple(p.shape)}")
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError(f"every p must be in [0, 1], got min {p.min().item()}, max {p.max().item()}")
        return (1.0 - p).to(dtype=x.dtype, device=x.device)
    return torch.full((x.shape[-1],), 1.0 - check_probability("p", p), dtype=x.dtype, device=x.device)


def dropped_sum_moments(
    x: torch.Tensor, weight: torch.Tensor, p: float | torch.Tensor, *, inverted: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact mean and variance of :math:`S_j = \sum_i W_{ji} x_i z_i / c`, :math:`z_i \sim \mathrm{Bernoulli}(1-p_i)`.

    With ``inverted=False`` (Wang & Manning's form) :math:`c = 1`:
    :math:`\mu = \sum_i q_i W_{ji} x_i`, :math:`s^2 = \sum_i q_i(1-q_i) W_{ji}^2 x_i^2`.
    With ``inverted=True`` each gate is divided by its :math:`q_i` (inverted dropout), so
    :math:`\mu = \sum_i W_{ji} x_i` and :math:`s^2 = \sum_i \frac{1-q_i}{q_i} W_{ji}^2 x_i^2`
    (a :math:`q_i = 0` input then raises).

    Args:
        x: ``(*, in_features)``.
        weight: ``(out_features, in_features)``.
        p: drop probability, a float or a tensor ``(in_features,)`` of per-input probabilities.
        inverted: whether the gates are scaled by :math:`1/q_i`.

    Returns:
        ``(mean, variance)``, each ``(*, out_features)``.

    Reference: Wang & Manning (2013), §2.
    """
    _check_linear(x, weight, None)
    q = _keep(p, x)
    if inverted:
        if bool((q == 0).any()):
            raise ValueError("inverted moments need every p < 1 (the scale 1/(1-p) is undefined at p = 1)")
        mean_factor, var_factor = torch.ones_like(q), (1.0 - q) / q
    else:
        mean_factor, var_factor = q, q * (1.0 - q)
    mean = torch.nn.functional.linear(x * mean_factor, weight)
    var = torch.nn.functional.linear(x * x * var_factor, weight * weight)
    return mean, var


def probit_sigmoid_mean(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    r"""MacKay's approximation :math:`\mathbb{E}\,\sigma(Z) \approx \sigma(\mu/\sqrt{1 + \pi s^2/8})`, :math:`Z \sim \mathcal N(\mu, s^2)`.

    Exact for :math:`\Phi(\lambda\,\cdot)` in place of :math:`\sigma` (:math:`\lambda^2 = \pi/8`),
    by :math:`\int \Phi(\lambda z)\,\mathcal N(z; \mu, s^2)\,dz = \Phi(\lambda\mu/\sqrt{1+\lambda^2 s^2})`.
    """
    if bool((variance < 0).any()):
        raise ValueError("variance must be non-negative")
    return torch.sigmoid(mean / torch.sqrt(1.0 + PROBIT_SLOPE_SQUARED * variance))


def gaussian_sigmoid_mean(mean: torch.Tensor, variance: torch.Tensor, *, nodes: int = 128) -> torch.Tensor:
    r""":math:`\mathbb{E}\,\sigma(Z)`, :math:`Z \sim \mathcal N(\mu, s^2)`, by quadrature (float64 inside).

    Two rules, each used where it converges fast:

    * :math:`s < 1`: Gauss–Hermite, :math:`\frac{1}{\sqrt\pi}\sum_k w_k\,\sigma(\mu + \sqrt2\,s\,t_k)`.
      The sigmoid's poles at :math:`\pm i\pi` lie at distance :math:`\pi/(\sqrt2 s)` from the
      real axis in the Hermite variable, so for small :math:`s` the error is negligible.
    * :math:`s \ge 1`: split off the step function,
      :math:`\mathbb{E}\,\sigma(Z) = \Phi(\mu/s) + \int_0^\infty \sigma(-x)\,[n(-x) - n(x)]\,dx`
      with :math:`n` the density of :math:`Z`, and integrate by Gauss–Legendre on
      :math:`[0, 40]` (:math:`\sigma(-40) < 10^{-17}`): the integrand varies on scales of
      at least :math:`\min(1, s)`.

    Agreement with adaptive quadrature is below 1e-10 for :math:`|\mu| \le 10`,
    :math:`s \le 20` (tested).

    Args:
        mean, variance: broadcastable tensors; ``variance >= 0``.
        nodes: nodes of each rule (the Legendre rule uses ``2 * nodes``).
    """
    nodes = check_positive_int("nodes", nodes)
    if bool((variance < 0).any()):
        raise ValueError("variance must be non-negative")
    mu, var = torch.broadcast_tensors(mean.double(), variance.double())
    s = var.sqrt()
    t, w = np.polynomial.hermite.hermgauss(nodes)
    t = torch.as_tensor(t, dtype=torch.float64, device=mu.device)
    w = torch.as_tensor(w, dtype=torch.float64, device=mu.device) / math.sqrt(math.pi)
    hermite = (torch.sigmoid(mu.unsqueeze(-1) + math.sqrt(2.0) * s.unsqueeze(-1) * t) * w).sum(-1)
    u, v = np.polynomial.legendre.leggauss(2 * nodes)
    half = _STEP_SPLIT_RANGE / 2.0
    x = torch.as_tensor(half * (u + 1.0), dtype=torch.float64, device=mu.device)
    v = torch.as_tensor(half * v, dtype=torch.float64, device=mu.device)
    wide = torch.clamp(s, min=1.0).unsqueeze(-1)  # the rule is only used for s >= 1
    m = mu.unsqueeze(-1)
    density_gap = (torch.exp(-0.5 * ((x + m) / wide) ** 2) - torch.exp(-0.5 * ((x - m) / wide) ** 2)) / (wide * math.sqrt(2 * math.pi))
    step = torch.special.ndtr(mu / torch.clamp(s, min=1.0)) + (torch.sigmoid(-x) * density_gap * v).sum(-1)
    return torch.where(s < 1.0, hermite, step).to(mean.dtype)


def fast_dropout_logistic(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    p: float | torch.Tensor,
    *,
    inverted: bool = True,
) -> torch.Tensor:
    r"""Deterministic fast-dropout output of logistic units: :math:`\approx \mathbb{E}_z\,\sigma(S + \text{bias})`.

    Moments from :func:`dropped_sum_moments` (bias added to the mean, never dropped), then
    :func:`probit_sigmoid_mean`. No sampling: the mask is integrated out approximately.

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.

    Reference: Wang & Manning (2013), §3.
    """
    mean, var = dropped_sum_moments(x, weight, p, inverted=inverted)
    if bias is not None:
        _check_linear(x, weight, bias)
        mean = mean + bias
    return probit_sigmoid_mean(mean, var)
