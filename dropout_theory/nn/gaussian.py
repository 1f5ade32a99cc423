"""Module forms of Gaussian and alpha dropout."""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.functional.alpha import _check_moments
from dropout_theory.validation import check_generator, check_probability


class GaussianDropout(nn.Module):
    r"""Multiply each element by :math:`\xi \sim \mathcal N(1, p/(1-p))` during training.

    Matches the mean and variance of inverted dropout with drop probability ``p``; the
    identity in evaluation. See :func:`dropout_theory.functional.gaussian_dropout`.

    Args:
        p: drop probability of the matched Bernoulli dropout, in [0, 1) (``p = 1`` would
            need infinite noise variance and is refused). Default: 0.5.
        inplace: overwrite the input. Default: False.
        generator: optional ``torch.Generator`` for every draw of this module.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape.

    Example:
        >>> m = GaussianDropout(0.2, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(4, 3)).shape
        torch.Size([4, 3])

    Reference: Srivastava et al. (2014), §10; Kingma, Salimans & Welling (2015).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p, allow_one=False)
        self.inplace = bool(inplace)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gaussian_dropout(x, self.p, self.training, inplace=self.inplace, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(nn.Module):
    r"""Alpha dropout for SELU networks: dropped units take :math:`\alpha' = -\lambda\alpha`,
    then an affine map restores the input's mean and variance.

    See :func:`dropout_theory.functional.alpha_dropout`. Identity in evaluation.

    Args:
        p: drop probability in [0, 1]. Default: 0.5.
        inplace: overwrite the input. Default: False.
        mean, variance: input moments to preserve (default 0 and 1, the SELU fixed point).
        generator: optional ``torch.Generator``.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape.

    Example:
        >>> m = AlphaDropout(0.1, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(4, 3)).shape
        torch.Size([4, 3])

    Reference: Klambauer et al. (2017).
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        mean: float = 0.0,
        variance: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inplace = bool(inplace)
        self.mean, self.variance = _check_moments(mean, variance)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.alpha_dropout(
            x, self.p, self.training, mean=self.mean, variance=self.variance, inplace=self.inplace, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}, mean={self.mean}, variance={self.variance}"
