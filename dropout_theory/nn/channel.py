"""Module forms of channel (spatial) dropout."""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.validation import check_generator, check_probability


class ChannelDropout(nn.Module):
    r"""Zero whole channels with probability ``p`` and scale the rest by :math:`1/(1-p)`.

    One gate per (sample, channel), broadcast over all spatial positions. See
    :func:`dropout_theory.functional.channel_dropout`. Identity in evaluation.

    Args:
        p: drop probability in [0, 1]. Default: 0.5.
        inplace: overwrite the input. Default: False.
        spatial_dims: if given, the input must be ``spatial_dims + 2``-D (batched
            :math:`(N, C, *)`) or ``spatial_dims + 1``-D (unbatched :math:`(C, *)`), as in
            torch's ``Dropout1d/2d/3d``. If None (default), every input is read as
            batched :math:`(N, C, *)`.
        generator: optional ``torch.Generator``.

    Shape:
        Input :math:`(N, C, *)` or :math:`(C, *)`, output the same.

    Example:
        >>> m = ChannelDropout(0.5, generator=torch.Generator().manual_seed(0))
        >>> m(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 8, 5, 5])

    Reference: Tompson et al. (2015).
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        spatial_dims: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inplace = bool(inplace)
        if spatial_dims is not None and (isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) or spatial_dims < 0):
            raise ValueError(f"spatial_dims must be a non-negative integer or None, got {spatial_dims!r}")
        self.spatial_dims = spatial_dims
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.channel_dropout(
            x, self.p, self.training, spatial_dims=self.spatial_dims, inplace=self.inplace, generator=self.generator
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}, spatial_dims={self.spatial_dims}"


class ChannelDropout1d(ChannelDropout):
    """Channel dropout for :math:`(N, C, L)` or unbatched :math:`(C, L)` input (torch's ``Dropout1d``)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, inplace, spatial_dims=1, generator=generator)


class ChannelDropout2d(ChannelDropout):
    """Channel dropout for :math:`(N, C, H, W)` or unbatched :math:`(C, H, W)` input (torch's ``Dropout2d``).

    Unlike torch's ``Dropout2d``, a 3-D input is always read as unbatched :math:`(C, H, W)`
    (torch warns and falls back to 1-D channel dropout for historical reasons).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, inplace, spatial_dims=2, generator=generator)


class ChannelDropout3d(ChannelDropout):
    """Channel dropout for :math:`(N, C, D, H, W)` or unbatched :math:`(C, D, H, W)` input (torch's ``Dropout3d``)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, inplace, spatial_dims=3, generator=generator)
