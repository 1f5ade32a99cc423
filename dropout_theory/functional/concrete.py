r"""Concrete (relaxed Bernoulli) dropout: a dropout mask differentiable in ``p``.

Gal, Hron & Kendall (NeurIPS 2017) replace the Bernoulli *drop* indicator
:math:`z \sim \mathrm{Bernoulli}(p)` by its Concrete relaxation with temperature :math:`t`,

.. math:: \tilde z = \sigma\!\left(\frac{\log p - \log(1-p) + \log u - \log(1-u)}{t}\right),
          \qquad u \sim \mathcal U(0, 1),

so that the loss can be differentiated with respect to ``p`` (the drop probability in
that paper, as in this package). :math:`\tilde z > 1/2` exactly when :math:`u > 1 - p`, so
:math:`P(\tilde z > 1/2) = p` at every temperature, and :math:`\tilde z \to z` as :math:`t \to 0`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dropout_theory.functional.masks import uniform
from dropout_theory.validation import check_float_tensor, check_generator, check_probability

DEFAULT_TEMPERATURE = 0.1
DEFAULT_EPS = 1e-7


def _check_drop_probability(p: float | torch.Tensor) -> None:
    if isinstance(p, torch.Tensor):
        if p.numel() != 1 or not p.is_floating_point():
            raise ValueError(f"p must be a float or a one-element floating tensor, got {p.dtype} of shape {tuple(p.shape)}")
        value = float(p.detach())
        if not 0.0 < value < 1.0:
            raise ValueError(f"p must be in (0, 1), got {value}")
        return
    if not 0.0 < check_probability("p", p) < 1.0:
        raise ValueError(f"p must be in (0, 1), got {float(p)}")


def _check_temperature(temperature: float) -> float:
    temperature = float(temperature)
    if not temperature > 0.0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return temperature


def concrete_drop_mask(
    shape: Sequence[int],
    p: float | torch.Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    eps: float = DEFAULT_EPS,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""Relaxed *drop* indicators :math:`\tilde z \in (0, 1)` of the given shape.

    ``p`` may be a tensor that requires grad; the result is differentiable in it. ``eps``
    is added inside every logarithm as in the reference code (``K.epsilon()``), guarding
    ``log 0`` at ``u = 0``; ``eps = 0`` gives the exact relaxation.
    """
    _check_drop_probability(p)
    temperature = _check_temperature(temperature)
    check_generator(generator)
    if isinstance(p, torch.Tensor):
        device = p.device if device is None else device
    # Logits of a tiny u need more precision than half floats have.
    work_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    u = uniform(shape, generator=generator, device=device, dtype=work_dtype)
    p_t = torch.as_tensor(p, dtype=work_dtype, device=u.device)
    logit = torch.log(p_t + eps) - torch.log(1.0 - p_t + eps) + torch.log(u + eps) - torch.log(1.0 - u + eps)
    return torch.sigmoid(logit / temperature).to(dtype)


def concrete_dropout(
    x: torch.Tensor,
    p: float | torch.Tensor,
    training: bool = True,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    eps: float = DEFAULT_EPS,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Concrete dropout: :math:`y = x \odot (1 - \tilde z)/(1 - p)` in training, ``x`` in evaluation.

    One relaxed indicator :math:`\tilde z` per element of ``x`` (as in the reference code),
    drawn by :func:`concrete_drop_mask`. As :math:`t \to 0` this becomes inverted dropout
    with drop probability ``p``; at :math:`t > 0`, :math:`\mathbb{E}[1-\tilde z]` differs
    slightly from :math:`1 - p`, so :math:`\mathbb{E}[y] = x` holds only in that limit.

    Args:
        x: input of any shape, floating dtype.
        p: drop probability in (0, 1), a float or a one-element tensor (differentiable).
        training: apply the relaxed mask (True) or return ``x``.
        temperature: :math:`t > 0`; the reference code uses 0.1.
        eps: added inside the logarithms, as in the reference code.
        generator: source of randomness; same state -> same mask.

    Shape:
        Input :math:`(*)`, output the same shape, dtype and device.

    Example:
        >>> p = torch.tensor(0.2, requires_grad=True)
        >>> y = concrete_dropout(torch.ones(8), p, generator=torch.Generator().manual_seed(0))
        >>> y.sum().backward(); p.grad is not None
        True

    Reference: Gal, Hron & Kendall (2017), "Concrete Dropout", NeurIPS, §3; Maddison,
    Mnih & Teh (2017) and Jang, Gu & Poole (2017) for the Concrete distribution.
    """
    check_float_tensor("x", x)
    _check_drop_probability(p)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if not training:
        return x
    z = concrete_drop_mask(
        x.shape, p, temperature=temperature, eps=eps, generator=generator, device=x.device,
        dtype=torch.float64 if x.dtype == torch.float64 else torch.float32,
    )
    retain = 1.0 - torch.as_tensor(p, dtype=z.dtype, device=z.device)
    return (x * ((1.0 - z) / retain)).to(x.dtype)
