r"""Gaussian (multiplicative normal) dropout.

Each unit is multiplied by :math:`\xi_i \sim \mathcal N(1, \alpha)` with
:math:`\alpha = p/(1-p)`: the same mean and variance as inverted Bernoulli dropout with drop
probability ``p`` (Srivastava et al. 2014, §10; Kingma, Salimans & Welling 2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dropout_theory.validation import check_float_tensor, check_generator, check_probability

# CPU normal sampling is not implemented for every half type on every torch build, and a
# float16 normal has a coarse tail; half inputs draw their noise in float32 and cast.
_HALF_DTYPES = (torch.float16, torch.bfloat16)


def standard_normal(
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """N(0, 1) samples on ``device`` drawn from ``generator``.

    As :func:`~dropout_theory.functional.uniform`: a generator on another device samples
    where it lives and the result is moved, so a CPU generator reproduces the same numbers
    for a CUDA tensor.
    """
    check_generator(generator)
    device = torch.device(device) if device is not None else torch.get_default_device()
    draw_dtype = torch.float32 if dtype in _HALF_DTYPES else dtype
    source = generator.device if generator is not None else device
    out = torch.randn(tuple(shape), generator=generator, device=source, dtype=draw_dtype)
    return out.to(device=device, dtype=dtype)


def gaussian_dropout_std(p: float) -> float:
    r"""Standard deviation :math:`\sqrt{\alpha} = \sqrt{p/(1-p)}` of the multiplicative noise.

    Raises for ``p = 1``, where the variance is infinite.
    """
    p = check_probability("p", p, allow_one=False)
    return math.sqrt(p / (1.0 - p))


def gaussian_dropout(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Multiply each element by independent Gaussian noise with mean 1.

    .. math:: y_i = x_i \xi_i, \qquad \xi_i \sim \mathcal N\!\left(1, \alpha\right),
              \qquad \alpha = \frac{p}{1-p},

    so :math:`\mathbb{E}[y_i] = x_i` and :math:`\mathrm{Var}[y_i] = x_i^2\,p/(1-p)`, exactly
    the mean and variance of inverted Bernoulli dropout with drop probability ``p``. Higher
    moments differ (the Gaussian is symmetric; the scaled Bernoulli is skewed unless
    ``p = 1/2``). In evaluation the input is returned unchanged, since
    :math:`\mathbb{E}[\xi] = 1`.

    Args:
        x: input of any shape, floating dtype.
        p: drop probability of the Bernoulli dropout being matched, in [0, 1). ``p = 0`` is
            the identity. ``p = 1`` raises: its noise variance :math:`p/(1-p)` is infinite.
        training: add noise (True) or return ``x`` (False).
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same noise.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> gaussian_dropout(torch.ones(3), 0.5, generator=g).shape
        torch.Size([3])

    References: Srivastava et al. (2014), §10; Kingma, Salimans & Welling (2015), §3.
    """
    std = gaussian_dropout_std(p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if not training or std == 0.0:
        return x
    noise = standard_normal(x.shape, generator=generator, device=x.device, dtype=x.dtype).mul_(std).add_(1.0)
    return x.mul_(noise) if inplace else x * noise
