r"""Baldi & Sadowski's single linear unit under dropout: the expected error is a penalty.

A linear unit computes :math:`O = \sum_i w_i I_i`. Dropout multiplies each term by an
independent gate :math:`\delta_i \sim \mathrm{Bernoulli}(q_i)` (**q_i = keep**; Baldi &
Sadowski write :math:`p_i` for it). With :math:`E_D = \tfrac12 (t - \sum_i \delta_i w_i I_i)^2`
and the *ensemble* (keep-scaled) error :math:`E_{ENS} = \tfrac12 (t - \sum_i q_i w_i I_i)^2`,

.. math::

    \mathbb{E}[E_D] = E_{ENS} + \tfrac12 \sum_i q_i (1 - q_i)\, w_i^2 I_i^2, \qquad
    \mathbb{E}\Big[\frac{\partial E_D}{\partial w_i}\Big]
      = \frac{\partial E_{ENS}}{\partial w_i} + w_i\, q_i (1-q_i)\, I_i^2,

exactly (bias–variance: :math:`\mathbb{E}(t-O)^2 = (t - \mathbb{E}O)^2 + \mathrm{Var}\,O`).

Reference: Baldi & Sadowski (2013), "Understanding Dropout", NIPS 26; (2014), Artif. Intell. 210.
"""

from __future__ import annotations

import torch

from dropout_theory.enumeration import iter_mask_chunks, mask_probabilities


def _as_float64(name: str, value: torch.Tensor | float, like: torch.Tensor | None = None) -> torch.Tensor:
    device = like.device if like is not None else None
    tensor = torch.as_tensor(value, dtype=torch.float64, device=device)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return tensor


def _check_unit(
    w: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights and inputs as 1-D float64 of equal length, keep broadcast to that length."""
    w = _as_float64("w", w)
    inputs = _as_float64("inputs", inputs, w)
    if w.ndim != 1 or inputs.shape != w.shape:
        raise ValueError(f"w and inputs must be 1-D of equal length, got shapes {tuple(w.shape)} and {tuple(inputs.shape)}")
    keep_t = _as_float64("keep", keep, w)
    if keep_t.ndim > 1 or (keep_t.ndim == 1 and keep_t.shape != w.shape):
        raise ValueError(f"keep must be a scalar or have the shape of w {tuple(w.shape)}, got {tuple(keep_t.shape)}")
    if ((keep_t < 0) | (keep_t > 1)).any():
        raise ValueError(f"keep must be in [0, 1], got {keep!r}")
    return w, inputs, keep_t.expand_as(w)


def ensemble_error(w: torch.Tensor, inputs: torch.Tensor, target: float, keep: torch.Tensor | float) -> torch.Tensor:
    r"""Error of the keep-scaled ("ensemble") unit, :math:`E_{ENS} = \tfrac12 (t - \sum_i q_i w_i I_i)^2`.

    Args:
        w: weights, shape ``(d,)``.
        inputs: inputs :math:`I`, shape ``(d,)``.
        target: target :math:`t`.
        keep: keep probability per input (shape ``(d,)``) or one for all.
    """
    w, inputs, keep = _check_unit(w, inputs, keep)
    return 0.5 * (target - (keep * w * inputs).sum()) ** 2


def dropout_penalty(w: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor | float) -> torch.Tensor:
    r"""The penalty dropout adds, :math:`\tfrac12 \sum_i q_i (1-q_i)\, w_i^2 I_i^2` (note the ½).

    The ½ comes with :math:`E = \tfrac12(\cdot)^2`; it is :math:`\tfrac12\mathrm{Var}\,O`.

    Example:
        >>> float(dropout_penalty(torch.tensor([2.0]), torch.tensor([1.0]), 0.5))
        0.5
    """
    w, inputs, keep = _check_unit(w, inputs, keep)
    return 0.5 * (keep * (1 - keep) * w**2 * inputs**2).sum()


def inverted_dropout_penalty(w_tilde: torch.Tensor, inputs: torch.Tensor, keep: torch.Tensor | float) -> torch.Tensor:
    r"""The same penalty in the inverted parametrisation :math:`\tilde w_i = q_i w_i`:
    :math:`\tfrac12 \sum_i \frac{1-q_i}{q_i}\, \tilde w_i^2 I_i^2`, decreasing in every :math:`q_i`.

    ``keep`` must be positive (at :math:`q_i = 0` the reparametrisation is undefined).
    """
    w_tilde, inputs, keep = _check_unit(w_tilde, inputs, keep)
    if (keep == 0).any():
        raise ValueError(f"keep must be in (0, 1] for the inverted parametrisation, got {keep.tolist()}")
    return 0.5 * ((1 - keep) / keep * w_tilde**2 * inputs**2).sum()


def expected_dropout_error(w: torch.Tensor, inputs: torch.Tensor, target: float, keep: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\mathbb{E}[E_D] = \tfrac12 (t - \sum_i q_i w_i I_i)^2 + \tfrac12 \sum_i q_i(1-q_i) w_i^2 I_i^2`, exactly.

    Example:
        >>> w, I = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
        >>> round(float(expected_dropout_error(w, I, 1.0, torch.tensor([0.8, 0.3]))), 6)
        1.16
    """
    return ensemble_error(w, inputs, target, keep) + dropout_penalty(w, inputs, keep)


def expected_dropout_gradient(w: torch.Tensor, inputs: torch.Tensor, target: float, keep: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\mathbb{E}[\partial E_D/\partial w_i] = -(t - \sum_j q_j w_j I_j)\, q_i I_i + w_i q_i(1-q_i) I_i^2`.

    The first term is :math:`\partial E_{ENS}/\partial w_i`; the second is the gradient of the
    penalty. Shape ``(d,)``.
    """
    w, inputs, keep = _check_unit(w, inputs, keep)
    residual = target - (keep * w * inputs).sum()
    return -residual * keep * inputs + w * keep * (1 - keep) * inputs**2


def enumerate_dropout_error(
    w: torch.Tensor,
    inputs: torch.Tensor,
    target: float,
    keep: torch.Tensor | float,
    *,
    chunk: int = 1 << 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact :math:`\mathbb{E}[E_D]` and :math:`\mathbb{E}[\nabla_w E_D]` by summing over all :math:`2^d` gates.

    Works in float64, ``chunk`` masks at a time, so memory stays :math:`O(\text{chunk}\cdot d)`;
    :math:`d \le 20` takes well under a second. This is the brute-force oracle for
    :func:`expected_dropout_error` and :func:`expected_dropout_gradient`: it never uses their
    closed forms, only :math:`E_D(\delta)` and :math:`\partial E_D/\partial w_i = -(t - O)\delta_i I_i`.

    Returns:
        ``(expected_error, expected_gradient)`` with shapes ``()`` and ``(d,)``.
    """
    w, inputs, keep = _check_unit(w, inputs, keep)
    d = w.numel()
    error = torch.zeros((), dtype=torch.float64, device=w.device)
    gradient = torch.zeros(d, dtype=torch.float64, device=w.device)
    for masks in iter_mask_chunks(d, chunk, device=w.device):
        weights = mask_probabilities(masks, keep)
        residual = target - masks @ (w * inputs)
        error += weights @ (0.5 * residual**2)
        gradient += (weights * -residual) @ (masks * inputs)
    return error, gradient
