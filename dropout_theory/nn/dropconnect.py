"""Module form of DropConnect."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.validation import check_generator, check_positive_int, check_probability


class DropConnectLinear(nn.Module):
    r"""A ``Linear`` layer whose weights are dropped independently with probability ``p`` in training.

    Training: :math:`u = (M \star W)x/(1-p) + b`, :math:`M_{ij} \sim \mathrm{Bernoulli}(1-p)`,
    one mask per batch or (``per_example=True``) per example. Evaluation: :math:`Wx + b`,
    the mean. :meth:`moment_matching` gives Wan et al.'s Gaussian inference for a
    nonlinearity. See :func:`dropout_theory.functional.dropconnect_linear`.

    Args:
        p: drop probability of each weight, in [0, 1]. ``p`` comes first, as for every
            module of this package.
        in_features, out_features: as in ``torch.nn.Linear``.
        bias: learn an additive bias (never masked). Default: True.
        per_example: one mask per example instead of one per batch. Default: False.
        chunk_size: per-example examples processed at once (memory bound); default from
            :func:`dropout_theory.functional.dropconnect.default_chunk_size`.
        generator: optional ``torch.Generator``.
        device, dtype: of the parameters.

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.

    Example:
        >>> layer = DropConnectLinear(0.5, 10, 4, generator=torch.Generator().manual_seed(0))
        >>> layer(torch.randn(8, 10)).shape
        torch.Size([8, 4])

    Reference: Wan et al. (2013).
    """

    def __init__(
        self,
        p: float,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        per_example: bool = False,
        chunk_size: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.per_example = bool(per_example)
        self.chunk_size = None if chunk_size is None else check_positive_int("chunk_size", chunk_size)
        self.generator = check_generator(generator)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``torch.nn.Linear``'s initialisation (Kaiming-uniform weights, uniform bias).

        Uses torch's global generator, as ``torch.nn.Linear`` does; seed it (or load a
        state dict) for reproducible parameters.
        """
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropconnect_linear(
            x,
            self.weight,
            self.bias,
            self.p,
            self.training,
            per_example=self.per_example,
            chunk_size=self.chunk_size,
            generator=self.generator,
        )

    def moment_matching(
        self,
        x: torch.Tensor,
        activation: Callable[[torch.Tensor], torch.Tensor],
        samples: int,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Wan et al.'s inference for ``activation(self(x))``; see
        :func:`dropout_theory.functional.dropconnect_moment_matching`."""
        return F.dropconnect_moment_matching(
            x, self.weight, self.bias, self.p, activation, samples, generator=generator or self.generator
        )

    def extra_repr(self) -> str:
        return (
            f"p={self.p}, in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, per_example={self.per_example}"
        )
