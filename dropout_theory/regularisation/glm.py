r"""Dropout in generalised linear models as an adaptive penalty (Wager, Wang & Liang 2013).

A GLM has negative log-likelihood :math:`\ell(\beta; x, y) = -y\, x\cdot\beta + A(x\cdot\beta)`.
Dropout replaces :math:`x` by :math:`\tilde x = x \odot z/(1-\delta)` with
:math:`z_j \sim \mathrm{Bernoulli}(1-\delta)`, where **δ is the drop probability** (the
package's ``p``), so :math:`\mathbb{E}\tilde x = x`. Because :math:`\ell` is linear in
:math:`y`, the expected loss is the clean loss plus a penalty that does not involve the labels:

.. math::

    \sum_i \mathbb{E}\,\ell(\beta; \tilde x_i, y_i) = \sum_i \ell(\beta; x_i, y_i) + R(\beta),
    \qquad R(\beta) = \sum_i \big(\mathbb{E} A(\tilde x_i\cdot\beta) - A(x_i\cdot\beta)\big).

A second-order Taylor expansion of :math:`A` around :math:`x_i\cdot\beta` gives Wager et al.'s
quadratic approximation

.. math::

    R^q(\beta) = \tfrac12 \sum_i A''(x_i\cdot\beta)\,\mathrm{Var}(\tilde x_i\cdot\beta)
              = \tfrac12\,\frac{\delta}{1-\delta} \sum_j \beta_j^2 \sum_i A''(x_i\cdot\beta)\, x_{ij}^2,

exact when :math:`A` is quadratic (linear regression, :math:`A'' = 1`).

Reference: Wager, Wang & Liang (2013), "Dropout training as adaptive regularization", NIPS 26.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from dropout_theory.enumeration import iter_mask_chunks, mask_probabilities
from dropout_theory.validation import check_probability


@dataclass(frozen=True)
class GLMFamily:
    """A GLM's log-partition function :math:`A` and its second derivative :math:`A''`."""

    name: str
    log_partition: Callable[[torch.Tensor], torch.Tensor]
    curvature: Callable[[torch.Tensor], torch.Tensor]


LOGISTIC = GLMFamily(
    "logistic",
    log_partition=torch.nn.functional.softplus,  # log(1 + e^u), computed without overflow
    curvature=lambda u: torch.sigmoid(u) * torch.sigmoid(-u),  # pi (1 - pi)
)
GAUSSIAN = GLMFamily("gaussian", log_partition=lambda u: 0.5 * u**2, curvature=torch.ones_like)


def _check_design(beta: torch.Tensor, X: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    p = check_probability("p", p, allow_one=False)
    beta = torch.as_tensor(beta, dtype=torch.float64)
    X = torch.as_tensor(X, dtype=torch.float64, device=beta.device)
    if X.ndim != 2 or beta.ndim != 1 or X.shape[1] != beta.shape[0]:
        raise ValueError(f"X must be (N, d) and beta (d,), got shapes {tuple(X.shape)} and {tuple(beta.shape)}")
    return beta, X, p


def glm_dropout_penalty(
    beta: torch.Tensor, X: torch.Tensor, p: float, family: GLMFamily = LOGISTIC, *, chunk: int = 1 << 14
) -> torch.Tensor:
    r"""Exact dropout penalty :math:`R(\beta) = \sum_i \mathbb{E} A(\tilde x_i\cdot\beta) - A(x_i\cdot\beta)`.

    The expectation is a sum over all :math:`2^d` feature masks (float64, chunked), so ``d``
    (the number of features) should stay below about 20; ``N`` is free.

    Args:
        beta: coefficients, shape ``(d,)``.
        X: design matrix, shape ``(N, d)``.
        p: drop probability δ in [0, 1).
        family: :data:`LOGISTIC` (default) or :data:`GAUSSIAN`.

    Example:
        >>> X = torch.tensor([[1.0, -2.0], [0.5, 1.0]])
        >>> float(glm_dropout_penalty(torch.tensor([0.3, 0.2]), X, 0.0))
        0.0
    """
    beta, X, p = _check_design(beta, X, p)
    q = 1.0 - p
    expected = torch.zeros(X.shape[0], dtype=torch.float64, device=beta.device)
    for masks in iter_mask_chunks(X.shape[1], chunk, device=beta.device):
        weights = mask_probabilities(masks, q)
        # u[i, m] = x_i . (mask_m * beta) / q: the noisy linear predictor of row i under mask m
        u = X @ (masks * beta).T / q
        expected += family.log_partition(u) @ weights
    return (expected - family.log_partition(X @ beta)).sum()


def glm_quadratic_penalty(beta: torch.Tensor, X: torch.Tensor, p: float, family: GLMFamily = LOGISTIC) -> torch.Tensor:
    r"""Wager et al.'s approximation :math:`\tfrac12\,\frac{\delta}{1-\delta}\sum_j \beta_j^2 \sum_i A''(x_i\cdot\beta)\,x_{ij}^2`.

    Equivalently :math:`\tfrac12\,\frac{\delta}{1-\delta}\,\beta^\top \mathrm{diag}(X^\top V X)\,\beta`
    with :math:`V = \mathrm{diag}(A''(X\beta))`: an L2 penalty after scaling each feature by
    the diagonal Fisher information.
    """
    beta, X, p = _check_design(beta, X, p)
    curvature = family.curvature(X @ beta)
    return 0.5 * p / (1.0 - p) * (beta**2 * (curvature[:, None] * X**2).sum(0)).sum()


def glm_expected_loss(
    beta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, p: float, family: GLMFamily = LOGISTIC, *, chunk: int = 1 << 14
) -> torch.Tensor:
    r"""Exact :math:`\sum_i \mathbb{E}\,\ell(\beta; \tilde x_i, y_i)` by enumeration, labels included.

    Computed from the noisy loss itself (not from :math:`R`), so that comparing it with
    :math:`\sum_i \ell(\beta; x_i, y_i) + R(\beta)` for different labels tests that the
    penalty does not depend on :math:`y`.
    """
    beta, X, p = _check_design(beta, X, p)
    y = torch.as_tensor(y, dtype=torch.float64, device=beta.device)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
    q = 1.0 - p
    total = torch.zeros((), dtype=torch.float64, device=beta.device)
    for masks in iter_mask_chunks(X.shape[1], chunk, device=beta.device):
        weights = mask_probabilities(masks, q)
        u = X @ (masks * beta).T / q
        total += ((-y[:, None] * u + family.log_partition(u)) @ weights).sum()
    return total


def glm_loss(beta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, family: GLMFamily = LOGISTIC) -> torch.Tensor:
    r"""Clean negative log-likelihood :math:`\sum_i -y_i\,x_i\cdot\beta + A(x_i\cdot\beta)`."""
    beta, X, _ = _check_design(beta, X, 0.0)
    u = X @ beta
    return (-torch.as_tensor(y, dtype=torch.float64, device=beta.device) * u + family.log_partition(u)).sum()


def glm_penalty_small_drop_slope(beta: torch.Tensor, X: torch.Tensor, family: GLMFamily = LOGISTIC) -> torch.Tensor:
    r""":math:`\lim_{\delta\to 0} R(\beta)/\delta = \sum_{i,j} A(u_i - x_{ij}\beta_j) - A(u_i) + A'(u_i)\,x_{ij}\beta_j`.

    To first order in δ at most one feature is dropped (probability δ each), and the kept
    ones are scaled by :math:`1 + \delta`; :math:`u_i = x_i\cdot\beta`. Comparing with the
    slope of :math:`R^q`, :math:`\tfrac12 \sum_{i,j} A''(u_i)\,x_{ij}^2\beta_j^2`, shows that the
    quadratic approximation has a relative error that does *not* vanish as δ → 0: it is the
    Taylor error of :math:`A` over a step of size :math:`x_{ij}\beta_j`, which a small δ
    makes rarer but not smaller.
    """
    beta, X, _ = _check_design(beta, X, 0.0)
    u = X @ beta
    steps = X * beta  # (N, d): x_ij beta_j
    u_req = u.detach().clone().requires_grad_(True)
    (slope_A,) = torch.autograd.grad(family.log_partition(u_req).sum(), u_req)
    A = family.log_partition
    return (A(u[:, None] - steps) - A(u)[:, None] + slope_A[:, None] * steps).sum()
