r"""Least squares with noisy inputs: dropout, Gaussian input noise and multiplicative Gaussian noise.

Srivastava et al. (2014, §9.1) apply dropout to the inputs of linear regression:
:math:`\tilde X = R \ast X` with :math:`R_{nj} \sim \mathrm{Bernoulli}(q)` i.i.d. (**q = keep**;
the paper writes p). With :math:`\Gamma = (\mathrm{diag}\,X^\top X)^{1/2}`,

.. math::

    \mathbb{E}_R \|y - (R\ast X) w\|^2 = \|y - qXw\|^2 + q(1-q)\,\|\Gamma w\|^2,

and with :math:`\tilde w = q w` (what inverted dropout learns)

.. math::

    \mathbb{E}_R \|y - (R\ast X/q)\tilde w\|^2 = \|y - X\tilde w\|^2 + \frac{1-q}{q}\,\|\Gamma\tilde w\|^2,

minimised by :math:`\tilde w^* = (X^\top X + \frac{1-q}{q}\mathrm{diag}\,X^\top X)^{-1}X^\top y`.
Bishop (1995): additive noise :math:`X + E`, :math:`E_{nj} \sim \mathcal N(0, \sigma^2)`, gives
:math:`\|y - Xw\|^2 + N\sigma^2\|w\|^2`. Multiplicative noise :math:`R_{nj} \sim \mathcal N(1, \sigma^2)`
gives :math:`\|y - Xw\|^2 + \sigma^2\|\Gamma w\|^2`, the inverted-dropout loss when
:math:`\sigma^2 = (1-q)/q`.

Throughout, ``p`` is the **drop** probability and ``q = 1 - p``.
"""

from __future__ import annotations

import torch

from dropout_theory.enumeration import MAX_ENUMERATED_UNITS, iter_mask_chunks
from dropout_theory.validation import check_probability


def _check_problem(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64, device=X.device)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, D) and y (N,), got shapes {tuple(X.shape)} and {tuple(y.shape)}")
    return X, y


def _check_weights(w: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(w, dtype=torch.float64, device=X.device)
    if w.shape != (X.shape[1],):
        raise ValueError(f"w must have shape ({X.shape[1]},), got {tuple(w.shape)}")
    return w


def _check_keep(p: float) -> float:
    """The keep probability ``1 - p``; ``p = 1`` (nothing kept) has no inverted form."""
    return 1.0 - check_probability("p", p, allow_one=False)


def column_norms_squared(X: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{diag}(X^\top X)_j = \sum_n X_{nj}^2`, i.e. :math:`\Gamma^2`."""
    X = torch.as_tensor(X, dtype=torch.float64)
    return (X**2).sum(0)


def dropout_least_squares_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, p: float, *, inverted: bool = False) -> torch.Tensor:
    r"""Closed-form expected dropout loss :math:`\mathbb{E}_R\|y - \tilde X w\|^2`.

    Non-inverted (:math:`\tilde X = R\ast X`, Srivastava's form): :math:`\|y - qXw\|^2 + q(1-q)\|\Gamma w\|^2`.
    Inverted (:math:`\tilde X = R\ast X/q`): :math:`\|y - Xw\|^2 + \frac{1-q}{q}\|\Gamma w\|^2`.

    Args:
        w: weights, shape ``(D,)``.
        X: design, shape ``(N, D)``.
        y: targets, shape ``(N,)``.
        p: drop probability in [0, 1).
        inverted: which of the two forms.

    Example:
        >>> X, y = torch.eye(2), torch.ones(2)
        >>> float(dropout_least_squares_loss(torch.ones(2), X, y, 0.5))
        1.0
    """
    X, y = _check_problem(X, y)
    w = _check_weights(w, X)
    q = _check_keep(p)
    gamma2 = column_norms_squared(X)
    if inverted:
        return ((y - X @ w) ** 2).sum() + (1 - q) / q * (gamma2 * w**2).sum()
    return ((y - q * (X @ w)) ** 2).sum() + q * (1 - q) * (gamma2 * w**2).sum()


def enumerate_dropout_least_squares(
    w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, p: float, *, inverted: bool = False, chunk: int = 1 << 15
) -> torch.Tensor:
    r"""Exact :math:`\mathbb{E}_R\|y - \tilde X w\|^2` by summing over all :math:`2^{ND}` masks.

    Every entry of :math:`X` gets its own gate, so :math:`N D` must stay at most
    :data:`~dropout_theory.enumeration.MAX_ENUMERATED_UNITS` (about 20 runs in a second).
    This is the brute-force oracle for :func:`dropout_least_squares_loss`; it uses only
    the definition.
    """
    X, y = _check_problem(X, y)
    w = _check_weights(w, X)
    q = _check_keep(p)
    N, D = X.shape
    if N * D > MAX_ENUMERATED_UNITS:
        raise ValueError(f"N*D = {N * D} mask bits is too many to enumerate (limit {MAX_ENUMERATED_UNITS})")
    scale = 1.0 / q if inverted else 1.0
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    terms = X * w * scale  # x_nj w_j: gate (n, j) keeps or removes exactly this term
    for masks in iter_mask_chunks(N * D, chunk, device=X.device):
        kept = masks.sum(1)
        weights = q**kept * (1 - q) ** (N * D - kept)  # P(mask) for i.i.d. gates, as mask_probabilities
        residual = y - (masks.reshape(-1, N, D) * terms).sum(-1)
        total += weights @ (residual**2).sum(1)
    return total


def dropout_least_squares_solution(X: torch.Tensor, y: torch.Tensor, p: float, *, inverted: bool = True) -> torch.Tensor:
    r"""Minimiser of the expected dropout loss.

    Inverted: :math:`\tilde w^* = (X^\top X + \frac{1-q}{q}\,\mathrm{diag}\,X^\top X)^{-1} X^\top y`.
    Non-inverted: :math:`w^* = \tilde w^*/q` (the same predictor, :math:`q X w^* = X\tilde w^*`).
    The matrix is positive definite when every column of :math:`X` is non-zero and
    :math:`q < 1`, or when :math:`X` has full column rank; ``torch.linalg.solve`` raises otherwise.
    """
    X, y = _check_problem(X, y)
    q = _check_keep(p)
    gram = X.T @ X
    w_tilde = torch.linalg.solve(gram + (1 - q) / q * torch.diag(torch.diagonal(gram)), X.T @ y)
    return w_tilde if inverted else w_tilde / q


def ridge_solution(X: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    r"""Plain ridge regression :math:`\arg\min_w \|y - Xw\|^2 + \lambda\|w\|^2 = (X^\top X + \lambda I)^{-1}X^\top y`."""
    X, y = _check_problem(X, y)
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return torch.linalg.solve(X.T @ X + lam * torch.eye(X.shape[1], dtype=torch.float64, device=X.device), X.T @ y)


def equivalent_ridge_lambda(X: torch.Tensor, p: float) -> float:
    r"""The ridge :math:`\lambda` equal to inverted dropout when all columns have the same norm.

    If :math:`\|x_j\|^2 = c` for every column, :math:`\frac{1-q}{q}\|\Gamma\tilde w\|^2 = \lambda\|\tilde w\|^2`
    with :math:`\lambda = c\,(1-q)/q`; for standardised columns :math:`c = N`. Raises if the
    column norms differ (then no single :math:`\lambda` exists).
    """
    gamma2 = column_norms_squared(X)
    if not torch.allclose(gamma2, gamma2[0].expand_as(gamma2), rtol=1e-12, atol=0.0):
        raise ValueError(f"columns of X have different squared norms {gamma2.tolist()}: dropout is not plain ridge")
    q = _check_keep(p)
    return float(gamma2[0]) * (1 - q) / q


def gaussian_input_noise_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    r"""Bishop's identity: :math:`\mathbb{E}_E\|y - (X + E)w\|^2 = \|y - Xw\|^2 + N\sigma^2\|w\|^2`, :math:`E_{nj}\sim\mathcal N(0,\sigma^2)`."""
    X, y = _check_problem(X, y)
    w = _check_weights(w, X)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return ((y - X @ w) ** 2).sum() + X.shape[0] * sigma**2 * (w**2).sum()


def multiplicative_gaussian_noise_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, variance: float) -> torch.Tensor:
    r""":math:`\mathbb{E}_R\|y - (R\ast X)w\|^2 = \|y - Xw\|^2 + \sigma^2\|\Gamma w\|^2` for :math:`R_{nj} \sim \mathcal N(1, \sigma^2)`.

    Only the first two moments of :math:`R` enter a quadratic loss, so with
    :math:`\sigma^2 = (1-q)/q = p/(1-p)` this equals the inverted-dropout loss.
    """
    X, y = _check_problem(X, y)
    w = _check_weights(w, X)
    if not variance >= 0:
        raise ValueError(f"variance must be >= 0, got {variance}")
    return ((y - X @ w) ** 2).sum() + variance * (column_norms_squared(X) * w**2).sum()
