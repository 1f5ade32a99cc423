r"""Gaussian weight noise in a linear layer: sampled weights vs the local reparameterisation.

For :math:`B = AW` with independent :math:`w_{ij} \sim \mathcal N(\mu_{ij}, \sigma^2_{ij})`
and a fixed input row :math:`a_m`, each pre-activation is exactly Gaussian,

.. math:: b_{mj} \sim \mathcal N(\gamma_{mj}, \delta_{mj}), \qquad
          \gamma_{mj} = \sum_i a_{mi}\mu_{ij}, \qquad \delta_{mj} = \sum_i a_{mi}^2 \sigma^2_{ij},

so one may sample :math:`b` directly (Kingma, Salimans & Welling 2015, §2.3) instead of a
weight matrix per example. Weights here are stored as in ``torch.nn.Linear``:
``weight`` has shape ``(out_features, in_features)``.
"""

from __future__ import annotations

import torch

from dropout_theory.functional.gaussian import gaussian_dropout_std, standard_normal
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int


def _check_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, name: str = "weight") -> None:
    check_float_tensor("x", x)
    check_float_tensor(name, weight)
    if weight.ndim != 2:
        raise ValueError(f"{name} must have shape (out_features, in_features), got {tuple(weight.shape)}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x must have shape (*, {weight.shape[1]}) to match {name} {tuple(weight.shape)}, got {tuple(x.shape)}")
    if bias is not None:
        check_float_tensor("bias", bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")


def local_reparameterised_linear(
    x: torch.Tensor,
    weight_mean: torch.Tensor,
    weight_variance: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sample pre-activations of a linear layer with Gaussian weights, one weight draw per example.

    .. math:: b = \gamma + \sqrt{\delta}\odot\varepsilon, \quad \gamma = x\,\mu^\top,
              \quad \delta = x^{2}\,(\sigma^2)^\top, \quad \varepsilon \sim \mathcal N(0, I).

    Costs two matrix products and ``(*, out)`` normal draws, against ``(*, out, in)`` draws
    for :func:`weight_sampled_linear`, with the same distribution per example.

    Args:
        x: input ``(*, in_features)``.
        weight_mean: :math:`\mu`, ``(out_features, in_features)``.
        weight_variance: :math:`\sigma^2 \ge 0`, same shape.
        bias: optional deterministic bias ``(out_features,)``.
        generator: source of randomness.

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.

    Reference: Kingma, Salimans & Welling (2015), eq. 6.
    """
    _check_linear(x, weight_mean, bias, "weight_mean")
    _check_linear(x, weight_variance, None, "weight_variance")
    if (weight_variance < 0).any():
        raise ValueError("weight_variance must be non-negative")
    check_generator(generator)
    gamma = torch.nn.functional.linear(x, weight_mean, bias)
    delta = torch.nn.functional.linear(x * x, weight_variance)
    eps = standard_normal(gamma.shape, generator=generator, device=x.device, dtype=x.dtype)
    return gamma + delta.sqrt() * eps


def weight_sampled_linear(
    x: torch.Tensor,
    weight_mean: torch.Tensor,
    weight_variance: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    chunk_size: int = 256,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The direct route: draw a whole weight matrix :math:`W^{(m)} \sim \mathcal N(\mu, \sigma^2)`
    for every example :math:`m` and compute :math:`b_m = W^{(m)} x_m`.

    The reference against which :func:`local_reparameterised_linear` is checked. Memory is
    bounded by ``chunk_size`` examples at a time (``chunk_size * out * in`` weights).

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.
    """
    _check_linear(x, weight_mean, bias, "weight_mean")
    _check_linear(x, weight_variance, None, "weight_variance")
    if (weight_variance < 0).any():
        raise ValueError("weight_variance must be non-negative")
    chunk_size = check_positive_int("chunk_size", chunk_size)
    check_generator(generator)
    rows = x.reshape(-1, x.shape[-1])
    std = weight_variance.sqrt()
    outputs = []
    for start in range(0, rows.shape[0], chunk_size):
        chunk = rows[start : start + chunk_size]
        eps = standard_normal((chunk.shape[0], *weight_mean.shape), generator=generator, device=x.device, dtype=x.dtype)
        weights = weight_mean + std * eps
        outputs.append(torch.einsum("boi,bi->bo", weights, chunk))
    out = torch.cat(outputs) if outputs else rows.new_zeros((0, weight_mean.shape[0]))
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight_mean.shape[0])


def gaussian_dropout_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    p: float,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""A linear layer with independent Gaussian dropout noise on every weight, sampled locally.

    Variational dropout's weight posterior :math:`w_{ij} \sim \mathcal N(\theta_{ij}, \alpha\theta_{ij}^2)`,
    :math:`\alpha = p/(1-p)`, through :func:`local_reparameterised_linear`:
    :math:`b \sim \mathcal N(x\theta^\top, \alpha\, x^2 (\theta^2)^\top)`. Evaluation
    returns the mean :math:`x\theta^\top + \text{bias}`.

    Reference: Kingma, Salimans & Welling (2015), §3.
    """
    alpha = gaussian_dropout_std(p) ** 2
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    _check_linear(x, weight, bias)
    if not training or alpha == 0.0:
        return torch.nn.functional.linear(x, weight, bias)
    return local_reparameterised_linear(x, weight, alpha * weight * weight, bias, generator=generator)
