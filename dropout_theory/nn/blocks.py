"""Module forms of the structured variants for convolutional and residual networks."""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.functional.dropblock import NORMALIZE_MODES, Normalize
from dropout_theory.validation import check_generator, check_positive_int, check_probability


class DropBlock2d(nn.Module):
    r"""DropBlock: zero random ``block_size x block_size`` squares of each feature map in training.

    Block origins are drawn at the rate :math:`\gamma` of the paper's eq. (1) with
    ``keep_prob = 1 - p``, on the positions where a whole block fits, and the kept units
    are rescaled (``normalize="batch"``: by ``numel/sum(mask)`` as in the paper's
    Algorithm 1 and torchvision; ``"expected"``: by the exact expected kept fraction).
    Evaluation is the identity. See :func:`dropout_theory.functional.drop_block2d`.

    Args:
        p: drop probability in [0, 1] (``1 - keep_prob``). Because blocks overlap, the
            fraction actually dropped is a little below ``p``
            (:func:`~dropout_theory.functional.drop_block_drop_fraction`).
        block_size: side of the square block, at most the feature-map size.
        shared_channels: one mask per sample for all channels. Default: False.
        normalize: ``"batch"`` (default) or ``"expected"``.
        inplace: overwrite the input. Default: False.
        generator: optional ``torch.Generator`` for every mask this module draws.

    Shape:
        Input :math:`(N, C, H, W)` or :math:`(C, H, W)`; output the same.

    Example:
        >>> m = DropBlock2d(0.1, block_size=3, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 4, 8, 8])

    Reference: Ghiasi, Lin & Le (2018), NeurIPS.
    """

    def __init__(
        self,
        p: float = 0.1,
        block_size: int = 7,
        *,
        shared_channels: bool = False,
        normalize: Normalize = "batch",
        inplace: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.block_size = check_positive_int("block_size", block_size)
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
        self.shared_channels = bool(shared_channels)
        self.normalize = normalize
        self.inplace = bool(inplace)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.drop_block2d(
            x, self.p, self.block_size, self.training, shared_channels=self.shared_channels,
            normalize=self.normalize, inplace=self.inplace, generator=self.generator,
        )

    def extra_repr(self) -> str:
        return (
            f"p={self.p}, block_size={self.block_size}, shared_channels={self.shared_channels}, "
            f"normalize={self.normalize!r}, inplace={self.inplace}"
        )


class DropPath(nn.Module):
    r"""Stochastic depth: drop a residual branch for whole samples with probability ``p``.

    Use it on the branch output: ``x + drop_path(f(x))``. Inverted (default, timm's
    ``scale_by_keep=True``): kept samples are scaled by :math:`1/(1-p)` in training and the
    module is the identity in evaluation. Non-inverted (Huang et al. 2016): training
    multiplies by the gate only and evaluation by the survival probability :math:`1-p`.
    See :func:`dropout_theory.functional.drop_path`.

    Args:
        p: drop probability of the branch in [0, 1] (Huang et al.'s :math:`1 - p_\ell`).
        inverted: where the survival factor goes. Default: True.
        inplace: overwrite the input. Default: False.
        generator: optional ``torch.Generator`` for every gate this module draws.

    Shape:
        Input :math:`(N, *)`, output the same.

    Example:
        >>> m = DropPath(0.2, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(8, 16)).shape
        torch.Size([8, 16])

    Reference: Huang et al. (2016), "Deep networks with stochastic depth", ECCV.
    """

    def __init__(
        self, p: float = 0.0, *, inverted: bool = True, inplace: bool = False, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inverted = bool(inverted)
        self.inplace = bool(inplace)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.drop_path(
            x, self.p, self.training, inverted=self.inverted, inplace=self.inplace, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inverted={self.inverted}, inplace={self.inplace}"
