r"""Alpha dropout: dropout that keeps a SELU network's mean and variance.

Dropped units are set to the SELU's negative saturation value
:math:`\alpha' = -\lambda\alpha` instead of 0, and an affine map :math:`y \mapsto a y + b`
restores the mean and variance (Klambauer et al. 2017, §"New dropout technique"). With the
keep-mask :math:`d_i \sim \mathrm{Bernoulli}(q)`, :math:`q = 1 - p`:

.. math:: y_i = a\bigl(x_i d_i + \alpha'(1 - d_i)\bigr) + b .
"""

from __future__ import annotations

import math

import torch

from dropout_theory.functional.masks import bernoulli_mask
from dropout_theory.validation import check_float_tensor, check_generator, check_probability

#: SELU scale :math:`\lambda` and :math:`\alpha` (Klambauer et al. 2017; as in ``torch.nn.SELU``).
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
#: The value a dropped unit takes: :math:`\alpha' = \lim_{x\to-\infty}\mathrm{selu}(x) = -\lambda\alpha`.
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


def _check_moments(mean: float, variance: float) -> tuple[float, float]:
    mean, variance = float(mean), float(variance)
    if not math.isfinite(mean):
        raise ValueError(f"mean must be finite, got {mean}")
    if not (math.isfinite(variance) and variance > 0.0):
        raise ValueError(f"variance must be positive and finite, got {variance}")
    return mean, variance


def alpha_dropout_affine(p: float, mean: float = 0.0, variance: float = 1.0) -> tuple[float, float]:
    r"""The affine constants :math:`(a, b)` that keep an input's mean ``mean`` and variance ``variance``.

    For an input with mean :math:`\mu` and variance :math:`\nu`, independent of the mask,

    .. math:: a = \sqrt{\frac{\nu}{q\nu + q(1-q)(\mu - \alpha')^2}}, \qquad
              b = \mu - a\bigl(q\mu + (1-q)\alpha'\bigr).

    For the SELU fixed point :math:`(\mu, \nu) = (0, 1)` this is Klambauer et al.'s
    :math:`a = (q + \alpha'^2 q(1-q))^{-1/2}`, :math:`b = -a(1-q)\alpha'`.

    Args:
        p: drop probability in [0, 1). (At ``p = 1`` the constants diverge; see
            :func:`alpha_dropout` for the limit.)
        mean: :math:`\mu`, the mean to preserve. Default 0.
        variance: :math:`\nu > 0`, the variance to preserve. Default 1.
    """
    p = check_probability("p", p, allow_one=False)
    mean, variance = _check_moments(mean, variance)
    q = 1.0 - p
    a = math.sqrt(variance / (q * variance + q * p * (mean - ALPHA_PRIME) ** 2))
    b = mean - a * (q * mean + p * ALPHA_PRIME)
    return a, b


def apply_alpha_dropout_mask(
    x: torch.Tensor, mask: torch.Tensor, p: float, *, mean: float = 0.0, variance: float = 1.0, inplace: bool = False
) -> torch.Tensor:
    r"""Apply a given keep-mask: :math:`y = a(x\,d + \alpha'(1-d)) + b`.

    The deterministic half of :func:`alpha_dropout`, used to compare with torch's
    ``alpha_dropout`` on the very same mask. ``p = 1`` returns the limit ``mean`` everywhere
    (see :func:`alpha_dropout`).
    """
    p = check_probability("p", p)
    mean, variance = _check_moments(mean, variance)
    check_float_tensor("x", x)
    if p == 1.0:
        return x.fill_(mean) if inplace else torch.full_like(x, mean)
    a, b = alpha_dropout_affine(p, mean, variance)
    d = mask.to(dtype=x.dtype, device=x.device)
    # kept: a*x + b; dropped: a*alpha' + b. Written as x*(a d) + (b + a alpha' (1 - d)).
    shift = (1.0 - d) * (a * ALPHA_PRIME) + b
    if inplace:
        return x.mul_(d * a).add_(shift)
    return x * (d * a) + shift


def alpha_dropout(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    mean: float = 0.0,
    variance: float = 1.0,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Alpha dropout for self-normalising (SELU) networks.

    .. math:: y_i = a\bigl(x_i d_i + \alpha'(1-d_i)\bigr) + b, \qquad d_i \sim \mathrm{Bernoulli}(1-p),

    with :math:`\alpha' = -\lambda\alpha \approx -1.7581` and :math:`(a, b)` from
    :func:`alpha_dropout_affine`. If :math:`x_i` has mean ``mean`` and variance ``variance``
    (default: standardised, 0 and 1), so has :math:`y_i`, exactly. Evaluation returns ``x``.

    A dropped unit takes the value :math:`a\alpha' + b = \mu + a q(\alpha' - \mu)`. As
    :math:`q \to 0`, :math:`a` grows only like :math:`q^{-1/2}`, so this tends to the preserved
    mean :math:`\mu`. ``p = 1`` returns that limit: zeros for the default
    :math:`(\mu, \nu) = (0, 1)`, as ``torch.nn.functional.alpha_dropout`` does.

    Args:
        x: input of any shape, floating dtype.
        p: drop probability in [0, 1]. ``p = 0`` is the identity.
        training: apply the mask (True) or return ``x`` (False).
        mean, variance: the input moments to preserve (keywords; default 0 and 1).
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same mask.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = alpha_dropout(torch.randn(1000, generator=g), 0.1, generator=g)
        >>> abs(y.mean().item()) < 0.2 and abs(y.var().item() - 1) < 0.2
        True

    Reference: Klambauer, Unterthiner, Mayr & Hochreiter (2017), "Self-normalizing neural networks".
    """
    p = check_probability("p", p)
    mean, variance = _check_moments(mean, variance)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x.fill_(mean) if inplace else torch.full_like(x, mean)
    mask = bernoulli_mask(x.shape, 1.0 - p, generator=generator, device=x.device, dtype=x.dtype)
    return apply_alpha_dropout_mask(x, mask, p, mean=mean, variance=variance, inplace=inplace)
