r"""Gradient descent on linear regression with freshly sampled dropout masks, and its noise level.

Each step draws a new inverted-dropout mask for every entry of the design (the package's
:func:`~dropout_theory.functional.dropout`), takes the gradient of
:math:`\|y - \tilde X_k \tilde w\|^2`, and steps:

.. math:: \tilde w_{k+1} = \tilde w_k - \eta\, g_k, \qquad g_k = -2\tilde X_k^\top (y - \tilde X_k \tilde w_k).

Given :math:`\tilde w_k`, :math:`\mathbb{E}\,g_k = H(\tilde w_k - \tilde w^*)` exactly, with the
Hessian of the expected loss :math:`H = 2(X^\top X + \frac{1-q}{q}\mathrm{diag}\,X^\top X)`, so
the *mean* iterate follows :math:`\mathbb{E}\tilde w_{k} - \tilde w^* = (I - \eta H)^k(\tilde w_0 - \tilde w^*)`
and the iterates fluctuate around :math:`\tilde w^*` (the minimiser of the expected loss)
without settling. Their running (Polyak) average converges; for an average over :math:`K`
steps of the stationary chain its covariance is approximately
:math:`H^{-1} S H^{-1}/K`, where :math:`S = \mathrm{Cov}(g \mid \tilde w^*)` is the gradient-noise
covariance at the minimiser (:func:`gradient_noise_covariance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dropout_theory import functional as F
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.regularisation.least_squares import _check_keep, _check_problem, _check_weights, dropout_least_squares_solution
from dropout_theory.validation import check_generator, check_positive_int


@dataclass(frozen=True)
class DropoutGDRun:
    """Result of :func:`dropout_gradient_descent`.

    Attributes:
        path: iterates :math:`\\tilde w_0, \\dots, \\tilde w_{T}`, shape ``(T + 1, chains, D)``.
        average: average of the iterates after ``burn_in`` steps, shape ``(chains, D)``.
        burn_in: the number of initial steps left out of the average.
    """

    path: torch.Tensor
    average: torch.Tensor
    burn_in: int


def expected_loss_hessian(X: torch.Tensor, p: float) -> torch.Tensor:
    r""":math:`H = 2(X^\top X + \frac{1-q}{q}\,\mathrm{diag}\,X^\top X)`, Hessian of the inverted expected loss."""
    X = torch.as_tensor(X, dtype=torch.float64)
    q = _check_keep(p)
    gram = X.T @ X
    return 2 * (gram + (1 - q) / q * torch.diag(torch.diagonal(gram)))


def dropout_gradient_descent(
    X: torch.Tensor,
    y: torch.Tensor,
    p: float,
    *,
    lr: float,
    steps: int,
    burn_in: int = 0,
    chains: int = 1,
    w0: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> DropoutGDRun:
    r"""Run ``chains`` independent chains of gradient descent with inverted dropout on the inputs.

    Args:
        X: design, shape ``(N, D)``; y: targets, shape ``(N,)``.
        p: drop probability in [0, 1).
        lr: step size :math:`\eta`; the mean iterate converges iff :math:`0 < \eta < 2/\lambda_{\max}(H)`.
        steps: number of steps :math:`T`.
        burn_in: steps left out of the average (the transient :math:`(I-\eta H)^k`).
        chains: independent chains run side by side (one batched mask per step).
        w0: start, shape ``(D,)`` (default zeros).
        generator: source of the masks; same state, same run.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X, y = torch.eye(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
        >>> dropout_gradient_descent(X, y, 0.5, lr=0.1, steps=3, generator=g).path.shape
        torch.Size([4, 1, 2])
    """
    X, y = _check_problem(X, y)
    _check_keep(p)
    steps = check_positive_int("steps", steps)
    chains = check_positive_int("chains", chains)
    check_generator(generator)
    if not 0 <= burn_in < steps:
        raise ValueError(f"burn_in must be in [0, steps), got {burn_in} with steps={steps}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    w = torch.zeros(X.shape[1], dtype=torch.float64, device=X.device) if w0 is None else _check_weights(w0, X)
    w = w.expand(chains, -1).clone()
    design = X.expand(chains, -1, -1)
    path = torch.empty(steps + 1, chains, X.shape[1], dtype=torch.float64, device=X.device)
    path[0] = w
    for k in range(steps):
        noisy = F.dropout(design, p, generator=generator)  # fresh mask for every entry of every chain
        residual = y - (noisy @ w.unsqueeze(-1)).squeeze(-1)
        gradient = -2 * (noisy.transpose(1, 2) @ residual.unsqueeze(-1)).squeeze(-1)
        w = w - lr * gradient
        path[k + 1] = w
    return DropoutGDRun(path, path[burn_in + 1 :].mean(0), burn_in)


def gradient_noise_covariance(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    r"""Exact covariance of one step's gradient :math:`g = -2\tilde X^\top(y - \tilde X w)` at ``w``.

    The rows of the mask are independent and :math:`g = \sum_n g_n` with :math:`g_n` depending
    on row :math:`n`'s mask only, so :math:`\mathrm{Cov}\,g = \sum_n \mathrm{Cov}\,g_n`, each an
    exact sum over the :math:`2^D` masks of one row (float64). Shape ``(D, D)``.
    """
    X, y = _check_problem(X, y)
    w = _check_weights(w, X)
    q = _check_keep(p)
    masks = all_masks(X.shape[1], device=X.device)  # (M, D)
    weights = mask_probabilities(masks, q)
    noisy_rows = masks[None] * X[:, None, :] / q  # (N, M, D)
    per_row = -2 * noisy_rows * (y[:, None] - noisy_rows @ w)[..., None]  # g_n for every mask
    mean = torch.einsum("m,nmd->nd", weights, per_row)
    centred = per_row - mean[:, None, :]
    return torch.einsum("m,nmd,nme->de", weights, centred, centred)


def predicted_average_covariance(X: torch.Tensor, y: torch.Tensor, p: float, averaged_steps: int) -> torch.Tensor:
    r""":math:`H^{-1} S H^{-1}/K`: the small-step covariance of a :math:`K`-step iterate average.

    For the linear recursion :math:`e_{k+1} = (I - \eta H)e_k - \eta\,\xi_k` the autocovariances
    of the stationary chain sum to :math:`(\eta H)^{-1}\eta^2 S(\eta H)^{-1} = H^{-1}SH^{-1}`,
    independent of :math:`\eta`; corrections are :math:`O(\eta)` (the noise depends on the
    iterate) and :math:`O(1/(\eta\lambda_{\min} K))` (edge effects of a finite average).
    """
    K = check_positive_int("averaged_steps", averaged_steps)
    w_star = dropout_least_squares_solution(X, y, p)
    H_inv = torch.linalg.inv(expected_loss_hessian(X, p))
    return H_inv @ gradient_noise_covariance(w_star, X, y, p) @ H_inv / K
