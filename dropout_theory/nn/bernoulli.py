"""Module form of standard dropout."""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.validation import check_generator, check_probability


class Dropout(nn.Module):
    r"""Randomly zero elements with probability ``p`` during training.

    Inverted (default): kept elements are scaled by :math:`1/(1-p)` in training and the
    module is the identity in evaluation, so :math:`\mathbb{E}[y] = x` in both modes.
    Non-inverted: training multiplies by the mask only and evaluation multiplies by
    :math:`1-p` (Srivastava et al. 2014, §4).

    Args:
        p: drop probability in [0, 1]. Default: 0.5.
        inplace: overwrite the input. Default: False.
        inverted: put the :math:`1/(1-p)` correction in training (True) or scale by
            :math:`1-p` in evaluation (False). Default: True.
        generator: optional ``torch.Generator`` used for every mask this module draws.
        low_memory: keep only the generator state for backward and redraw the mask there
            (see :func:`dropout_theory.functional.dropout`). Default: False.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape.

    Example:
        >>> m = Dropout(p=0.2, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(20, 16)).shape
        torch.Size([20, 16])
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        inverted: bool = True,
        generator: torch.Generator | None = None,
        low_memory: bool = False,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inplace = bool(inplace)
        self.inverted = bool(inverted)
        self.generator = check_generator(generator)
        self.low_memory = bool(low_memory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(
            x,
            self.p,
            self.training,
            inverted=self.inverted,
            inplace=self.inplace,
            generator=self.generator,
            low_memory=self.low_memory,
        )

    def extra_repr(self) -> str:
        extra = ", low_memory=True" if self.low_memory else ""
        return f"p={self.p}, inplace={self.inplace}, inverted={self.inverted}{extra}"
