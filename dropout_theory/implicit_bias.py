r"""Dropout in linear networks and matrix factorisation: its explicit regulariser and what it induces.

A single-hidden-layer linear network :math:`x \mapsto U V^\top x` with
:math:`U \in \mathbb{R}^{d_{out} \times r}` (columns :math:`u_i`) and
:math:`V \in \mathbb{R}^{d_{in} \times r}` (columns :math:`v_i`), trained with inverted dropout
on its :math:`r` hidden units (keep probability :math:`q = 1 - p`), has the expected loss

.. math::
    \mathbb{E}_b \big\| y - U \operatorname{diag}(b/q) V^\top x \big\|^2
    = \| y - U V^\top x \|^2 + \lambda \sum_{i=1}^r \|u_i\|^2 (v_i^\top x)^2,
    \qquad \lambda = \frac{p}{1-p} = \frac{1-q}{q},

for every single pair :math:`(x, y)`. Averaged over data with second moment
:math:`\mathbb{E}\,xx^\top = C` the penalty is :math:`\lambda \sum_i \|u_i\|^2 v_i^\top C v_i`,
which is :math:`\lambda \sum_i \|u_i\|^2 \|v_i\|^2` for whitened data (:math:`C = I`), the form of
Mianjy, Arora & Vidal (2018). Column dropout in matrix factorisation (Cavazza et al. 2018) is
the same identity with :math:`X` in place of the data: the penalty is
:math:`\lambda \sum_i \|U_i\|^2 \|V_i\|^2`.

Over all factorisations of a fixed product :math:`M = UV^\top` of width :math:`r \ge \operatorname{rank} M`,

.. math:: \min_{UV^\top = M} \sum_i \|u_i\|^2 \|v_i\|^2 = \frac{\|M\|_*^2}{r},

attained exactly when every hidden unit carries the same :math:`\|u_i\|\|v_i\| = \|M\|_*/r`
(:func:`equalised_factorisation` builds one).
"""

from __future__ import annotations

import math

import torch

from dropout_theory import functional as F
from dropout_theory.enumeration import expectation_over_masks
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int, check_probability

RANK_TOLERANCE = 1e-10


def penalty_weight(p: float) -> float:
    r""":math:`\lambda = p/(1-p) = (1-q)/q`, the weight of dropout's penalty for drop probability ``p``."""
    p = check_probability("p", p, allow_one=False)
    return p / (1.0 - p)


def unit_norm_products(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    r""":math:`\|u_i\|\,\|v_i\|` for every hidden unit ``i`` (columns of ``U`` and ``V``).

    Shape:
        ``U``: :math:`(*, d_{out}, r)`, ``V``: :math:`(*, d_{in}, r)`; output :math:`(*, r)`.
    """
    _check_factors(U, V)
    return U.norm(dim=-2) * V.norm(dim=-2)


def explicit_regulariser(
    U: torch.Tensor, V: torch.Tensor, p: float, covariance: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Dropout's explicit penalty :math:`\lambda \sum_i \|u_i\|^2\, v_i^\top C v_i`.

    With ``covariance=None`` the data are taken to be whitened (:math:`C = I`) and the penalty
    is :math:`\lambda \sum_i \|u_i\|^2 \|v_i\|^2` (Mianjy, Arora & Vidal 2018; for matrix
    factorisation, Cavazza et al. 2018).

    Args:
        U: output weights, columns :math:`u_i`, shape :math:`(*, d_{out}, r)`.
        V: input weights, columns :math:`v_i`, shape :math:`(*, d_{in}, r)`.
        p: drop probability of the hidden units, in [0, 1).
        covariance: :math:`C = \mathbb{E}\,xx^\top`, shape :math:`(d_{in}, d_{in})`, or None for :math:`I`.

    Example:
        >>> U, V = torch.eye(2, dtype=torch.float64), 2 * torch.eye(2, dtype=torch.float64)
        >>> float(explicit_regulariser(U, V, p=0.5))
        8.0
    """
    _check_factors(U, V)
    weight = penalty_weight(p)
    if covariance is None:
        quadratic = (V**2).sum(dim=-2)
    else:
        check_float_tensor("covariance", covariance)
        if covariance.shape[-2:] != (V.shape[-2], V.shape[-2]):
            raise ValueError(f"covariance must be ({V.shape[-2]}, {V.shape[-2]}), got {tuple(covariance.shape)}")
        quadratic = (V * (covariance @ V)).sum(dim=-2)
    return weight * ((U**2).sum(dim=-2) * quadratic).sum(dim=-1)


def nuclear_norm(M: torch.Tensor) -> torch.Tensor:
    r""":math:`\|M\|_* = \sum_j \sigma_j(M)`, the sum of singular values (over the last two dims)."""
    check_float_tensor("M", M)
    return torch.linalg.svdvals(M).sum(dim=-1)


def induced_regulariser(M: torch.Tensor, width: int, p: float) -> torch.Tensor:
    r""":math:`\min_{UV^\top = M} \lambda \sum_{i=1}^r \|u_i\|^2\|v_i\|^2 = \frac{\lambda}{r}\|M\|_*^2`.

    Valid for width :math:`r \ge \operatorname{rank} M` (a smaller width cannot represent ``M``).
    """
    width = check_positive_int("width", width)
    if _rank(M) > width:
        raise ValueError(f"width must be >= rank(M) = {_rank(M)}, got {width}")
    return penalty_weight(p) / width * nuclear_norm(M) ** 2


def equalising_rotation(values: torch.Tensor) -> torch.Tensor:
    r"""An orthogonal :math:`Q` with :math:`(Q^\top \operatorname{diag}(\text{values})\, Q)_{ii}` all equal.

    Each step rotates the plane of the largest and the smallest diagonal entry (a Givens
    rotation) by the angle that sets the largest one to the mean :math:`t`; that entry is then
    never touched again, so at most :math:`r-1` rotations are needed. The angle exists because
    the rotated entry moves continuously from :math:`a_{ii} > t` to :math:`a_{jj} < t`
    (this is the constant-diagonal case of the Schur-Horn theorem, made constructive).

    Args:
        values: the diagonal, shape :math:`(r,)`, e.g. singular values padded with zeros.

    Returns:
        :math:`Q`, shape :math:`(r, r)`, same dtype.
    """
    check_float_tensor("values", values)
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"values must be a non-empty vector, got shape {tuple(values.shape)}")
    r = values.numel()
    A = torch.diag(values.to(torch.float64))
    Q = torch.eye(r, dtype=torch.float64, device=values.device)
    target = A.diagonal().mean()
    scale = max(A.diagonal().abs().max().item(), 1.0)
    for _ in range(r - 1):
        diag = A.diagonal()
        i, j = int(diag.argmax()), int(diag.argmin())
        if (diag[i] - diag[j]).item() <= 1e-14 * scale:
            break
        alpha = 0.5 * (A[i, i] - A[j, j]).item()
        beta = A[i, j].item()
        gamma = target.item() - 0.5 * (A[i, i] + A[j, j]).item()
        rho = math.hypot(alpha, beta)
        # new a_ii = (a_ii + a_jj)/2 + alpha cos 2phi + beta sin 2phi = t  <=>  rho cos(2phi - psi) = gamma
        phi = 0.5 * (math.atan2(beta, alpha) + math.acos(max(-1.0, min(1.0, gamma / rho))))
        G = torch.eye(r, dtype=torch.float64, device=values.device)
        G[i, i], G[j, i], G[i, j], G[j, j] = math.cos(phi), math.sin(phi), -math.sin(phi), math.cos(phi)
        A = G.T @ A @ G
        Q = Q @ G
    return Q.to(values.dtype)


def equalised_factorisation(M: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A factorisation :math:`M = UV^\top` of width :math:`r` with :math:`\|u_i\| = \|v_i\| = \sqrt{\|M\|_*/r}` for all i.

    From the SVD :math:`M = W_k \Sigma_k Z_k^\top` (rank k): :math:`U = W_k B Q`,
    :math:`V = Z_k B Q` with :math:`B = [\Sigma_k^{1/2}\; 0] \in \mathbb{R}^{k \times r}` and
    :math:`Q` from :func:`equalising_rotation` of :math:`(\sigma_1, \dots, \sigma_k, 0, \dots, 0)`.
    Then :math:`UV^\top = W_k B B^\top Z_k^\top = M` and
    :math:`\|u_i\|^2 = \|v_i\|^2 = (Q^\top B^\top B Q)_{ii} = \|M\|_*/r`, so
    :math:`\sum_i \|u_i\|^2\|v_i\|^2 = \|M\|_*^2/r`: the lower bound, attained.

    Args:
        M: matrix :math:`(d_{out}, d_{in})`, floating dtype.
        width: number of hidden units :math:`r \ge \operatorname{rank} M`.

    Returns:
        ``(U, V)`` of shapes :math:`(d_{out}, r)` and :math:`(d_{in}, r)`.
    """
    check_float_tensor("M", M)
    if M.dim() != 2:
        raise ValueError(f"M must be a matrix, got shape {tuple(M.shape)}")
    width = check_positive_int("width", width)
    W, sigma, Zt = torch.linalg.svd(M, full_matrices=False)
    k = _rank(M)
    if k > width:
        raise ValueError(f"width must be >= rank(M) = {k}, got {width}")
    padded = torch.zeros(width, dtype=M.dtype, device=M.device)
    padded[:k] = sigma[:k]
    Q = equalising_rotation(padded)
    B = torch.zeros(k, width, dtype=M.dtype, device=M.device)
    B[:, :k] = torch.diag(sigma[:k].sqrt())
    return W[:, :k] @ B @ Q, Zt[:k].T @ B @ Q


def squared_nuclear_shrinkage(X: torch.Tensor, weight: float) -> torch.Tensor:
    r"""The minimiser of :math:`\|X - M\|_F^2 + \mu \|M\|_*^2`: singular-value thresholding with a data-dependent threshold.

    With :math:`X = W \operatorname{diag}(\sigma) Z^\top`, the minimiser keeps :math:`W, Z` and
    shrinks :math:`s_j = \max(\sigma_j - \tau, 0)`, where
    :math:`\tau = \mu \sum_{j \le k} \sigma_j / (1 + \mu k)` and :math:`k` is the number of
    singular values above :math:`\tau` (optimality: :math:`s_j = \sigma_j - \mu \sum_l s_l` on
    the support, :math:`\sigma_j \le \mu \sum_l s_l` off it). For the dropout objective of
    matrix factorisation of width :math:`r`, :math:`\mu = \lambda / r`.

    Args:
        X: matrix, floating dtype.
        weight: :math:`\mu \ge 0`.
    """
    check_float_tensor("X", X)
    if X.dim() != 2:
        raise ValueError(f"X must be a matrix, got shape {tuple(X.shape)}")
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
    W, sigma, Zt = torch.linalg.svd(X, full_matrices=False)
    tau = 0.0
    for k in range(len(sigma), 0, -1):
        tau = weight * sigma[:k].sum().item() / (1.0 + weight * k)
        if sigma[k - 1].item() > tau:
            break
    shrunk = (sigma - tau).clamp(min=0.0)
    return (W * shrunk) @ Zt


def hidden_dropout_forward(
    U: torch.Tensor, V: torch.Tensor, x: torch.Tensor, p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r""":math:`U \operatorname{diag}(b/q) V^\top x` per example: the package's inverted dropout on the hidden units.

    Shape:
        ``x``: :math:`(*, n, d_{in})` (one mask per example); output :math:`(*, n, d_{out})`.
    """
    _check_factors(U, V)
    return F.dropout(x @ V, p, generator=generator) @ U.transpose(-1, -2)


def exact_hidden_dropout_loss(
    U: torch.Tensor, V: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: float
) -> torch.Tensor:
    r""":math:`\frac1n\sum_k \mathbb{E}_b\|y_k - U\operatorname{diag}(b/q)V^\top x_k\|^2`, summed over all :math:`2^r` masks.

    One mask is shared by the whole data set in each term of the sum, which gives the same
    expectation as one mask per example (the expectation is linear in the examples). Float64,
    exact; limited to the widths :func:`dropout_theory.enumeration.expectation_over_masks` allows.

    Shape:
        ``U``: :math:`(d_{out}, r)`, ``V``: :math:`(d_{in}, r)`, ``x``: :math:`(n, d_{in})`,
        ``y``: :math:`(n, d_{out})`; output: a scalar tensor.
    """
    _check_factors(U, V)
    check_float_tensor("x", x)
    check_float_tensor("y", y)
    p = check_probability("p", p, allow_one=False)
    hidden = (x @ V).to(torch.float64)
    U64, y64 = U.to(torch.float64), y.to(torch.float64)

    def loss(masks: torch.Tensor) -> torch.Tensor:
        prediction = (hidden[None] * masks[:, None] / (1.0 - p)) @ U64.T
        return ((y64 - prediction) ** 2).sum(-1).mean(-1)

    return expectation_over_masks(loss, U.shape[-1], 1.0 - p, device=U.device)


def train_linear_network(
    x: torch.Tensor,
    y: torch.Tensor,
    width: int,
    p: float,
    *,
    steps: int = 400,
    lr: float = 0.05,
    decay_steps: float = 100.0,
    init_scale: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Train :math:`x \mapsto UV^\top x` by gradient descent on :math:`\frac1n\sum\|y - U\operatorname{diag}(b/q)V^\top x\|^2`.

    Every step draws a fresh mask per example with :func:`dropout_theory.functional.dropout`
    (``p = 0`` is plain gradient descent) and uses the full batch; the step size decays as
    :math:`\eta_t = \eta / (1 + t/T)` so the dropout noise settles. Gradients are written out
    (:math:`\nabla_U = \frac2n R^\top \tilde h`, :math:`\nabla_V = \frac2n x^\top (R U \odot s)`
    with :math:`s = b/q`, :math:`\tilde h = (xV) \odot s`, residual :math:`R`) because autograd's
    per-step overhead dominates for matrices this small. Leading batch dimensions train
    independent networks at once.

    Args:
        x: inputs :math:`(*, n, d_{in})`; y: targets :math:`(*, n, d_{out})`.
        width: hidden units :math:`r`.
        p: drop probability of the hidden units, in [0, 1).
        steps, lr, decay_steps: iterations, initial step size :math:`\eta`, decay time :math:`T`.
        init_scale: standard deviation of the Gaussian initialisation.
        generator: draws the initialisation, then every mask.

    Returns:
        ``(U, V)`` of shapes :math:`(*, d_{out}, r)` and :math:`(*, d_{in}, r)`.

    Reference: Mianjy, Arora & Vidal (2018), ICML.
    """
    check_float_tensor("x", x)
    check_float_tensor("y", y)
    check_generator(generator)
    width = check_positive_int("width", width)
    steps = check_positive_int("steps", steps)
    p = check_probability("p", p, allow_one=False)
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"x and y must agree except in the last dim, got {tuple(x.shape)} and {tuple(y.shape)}")
    batch, n = x.shape[:-2], x.shape[-2]
    U = init_scale * torch.randn(*batch, y.shape[-1], width, generator=generator, dtype=x.dtype, device=x.device)
    V = init_scale * torch.randn(*batch, x.shape[-1], width, generator=generator, dtype=x.dtype, device=x.device)
    ones = torch.ones(*batch, n, width, dtype=x.dtype, device=x.device)
    for t in range(steps):
        step = lr / (1.0 + t / decay_steps)
        scaled_mask = F.dropout(ones, p, generator=generator)
        hidden = (x @ V) * scaled_mask
        residual = hidden @ U.transpose(-1, -2) - y
        grad_U = (2.0 / n) * residual.transpose(-1, -2) @ hidden
        grad_V = (2.0 / n) * x.transpose(-1, -2) @ ((residual @ U) * scaled_mask)
        U = U - step * grad_U
        V = V - step * grad_V
    return U, V


def whitened_inputs(n: int, d: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                    batch: tuple[int, ...] = ()) -> torch.Tensor:
    r"""``n`` inputs in :math:`\mathbb{R}^d` whose empirical second moment is exactly :math:`I`: :math:`\frac1n X^\top X = I`.

    Built as :math:`\sqrt n\, Q` from the QR decomposition of a Gaussian matrix, so the
    whitened-data form of the penalty holds exactly on this finite data set.
    """
    n, d = check_positive_int("n", n), check_positive_int("d", d)
    if n < d:
        raise ValueError(f"n must be >= d to whiten, got n={n}, d={d}")
    gaussian = torch.randn(*batch, n, d, generator=generator, dtype=dtype)
    Q, _ = torch.linalg.qr(gaussian)
    return Q * math.sqrt(n)


def _rank(M: torch.Tensor) -> int:
    sigma = torch.linalg.svdvals(M)
    if sigma.numel() == 0 or sigma[0] == 0:
        return 0
    return int((sigma > RANK_TOLERANCE * sigma[0]).sum())


def _check_factors(U: torch.Tensor, V: torch.Tensor) -> None:
    check_float_tensor("U", U)
    check_float_tensor("V", V)
    if U.dim() < 2 or V.dim() < 2 or U.shape[-1] != V.shape[-1]:
        raise ValueError(f"U and V must be (*, d, r) with the same width r, got {tuple(U.shape)} and {tuple(V.shape)}")
