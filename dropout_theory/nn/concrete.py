r"""Concrete dropout: dropout whose probability is learned (Gal, Hron & Kendall, NeurIPS 2017)."""

from __future__ import annotations

import math

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.functional.concrete import DEFAULT_EPS, DEFAULT_TEMPERATURE
from dropout_theory.validation import check_generator, check_probability


class ConcreteDropout(nn.Module):
    r"""Dropout with a learned drop probability, optionally wrapping the layer it feeds.

    In training, the input goes through the Concrete relaxation of dropout
    (:func:`~dropout_theory.functional.concrete_dropout`) with drop probability
    :math:`p = \sigma(\ell)`, where the logit :math:`\ell` is a parameter; then through the
    wrapped ``layer`` if there is one. In evaluation the input passes unchanged (inverted
    scaling), as ``torch.nn.Dropout`` does; to sample predictions at test time, keep the
    module in training mode or use Monte Carlo prediction.

    Training needs the regulariser, added to the loss by the caller:

    .. math:: R = \lambda_w \frac{\sum W^2}{1-p} + \lambda_d\, K \,\bigl(p\log p + (1-p)\log(1-p)\bigr),

    as in the reference code: :math:`W` is the wrapped layer's ``weight`` (the mean weights
    :math:`M` of the paper scaled by :math:`1-p`, since inputs are divided by :math:`1-p`:
    :math:`\|W\|^2/(1-p) = (1-p)\|M\|^2`), :math:`K` the number of input features, and the
    second term :math:`-\lambda_d K H(p)` rewards entropy. The reference code sets
    :math:`\lambda_w = l^2/N` and :math:`\lambda_d = 2/N` for :math:`N` training points
    and prior length scale :math:`l` (modulo a model precision :math:`\tau`).

    Args:
        p: initial drop probability in (0, 1). Default: 0.1.
        layer: the layer fed by the dropped-out input (e.g. ``nn.Linear``), or ``None``
            to use the module on its own in front of a layer (then pass ``weight=`` to
            :meth:`regularization`).
        temperature: of the Concrete relaxation. Default: 0.1 (the reference code).
        weight_regularizer: :math:`\lambda_w`. Default: 1e-6 (the reference code).
        dropout_regularizer: :math:`\lambda_d`. Default: 1e-5 (the reference code).
        eps: added inside logarithms. Default: 1e-7.
        generator: optional ``torch.Generator`` for every mask this module draws.
        device, dtype: of the logit parameter (as torch's factory arguments).

    Shape:
        Input :math:`(N, *)`; output that of ``layer`` (or the input's without one).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> cd = ConcreteDropout(0.2, nn.Linear(4, 1), generator=torch.Generator().manual_seed(0))
        >>> loss = cd(torch.randn(8, 4)).pow(2).mean() + cd.regularization()
        >>> loss.backward(); cd.p_logit.grad is not None
        True

    Reference: Gal, Hron & Kendall (2017), "Concrete Dropout", NeurIPS; reference code
    ``yaringal/ConcreteDropout``.
    """

    def __init__(
        self,
        p: float = 0.1,
        layer: nn.Module | None = None,
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        weight_regularizer: float = 1e-6,
        dropout_regularizer: float = 1e-5,
        eps: float = DEFAULT_EPS,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        p = check_probability("p", p)
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in (0, 1) (it is learned through its logit), got {p}")
        if layer is not None and not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be a torch.nn.Module or None, got {type(layer).__name__}")
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        for name, value in (("weight_regularizer", weight_regularizer), ("dropout_regularizer", dropout_regularizer)):
            if not float(value) >= 0.0:
                raise ValueError(f"{name} must be non-negative, got {value}")
        self.layer = layer
        self.temperature = float(temperature)
        self.weight_regularizer = float(weight_regularizer)
        self.dropout_regularizer = float(dropout_regularizer)
        self.eps = float(eps)
        self.generator = check_generator(generator)
        self.p_logit = nn.Parameter(torch.tensor(math.log(p) - math.log1p(-p), device=device, dtype=dtype))
        self.input_features: int | None = None

    @property
    def p(self) -> torch.Tensor:
        """The current drop probability :math:`\\sigma(\\ell)` (a differentiable 0-d tensor)."""
        return torch.sigmoid(self.p_logit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 1:
            raise ValueError("x must have a batch dimension, got a 0-d tensor")
        self.input_features = int(math.prod(x.shape[1:]))
        if self.training:
            x = F.concrete_dropout(
                x, self.p.to(x.dtype), temperature=self.temperature, eps=self.eps, generator=self.generator
            )
        return x if self.layer is None else self.layer(x)

    def regularization(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\lambda_w \sum W^2/(1-p) - \lambda_d K H(p)`, the term to add to the loss.

        Args:
            weight: the weights fed by the dropped-out input; default: the wrapped layer's
                ``weight``. :math:`K` is the number of input features seen by the last
                forward pass (or the layer's ``in_features`` before any).
        """
        if weight is None:
            weight = getattr(self.layer, "weight", None)
            if not isinstance(weight, torch.Tensor):
                raise ValueError("regularization() needs weight=... when the module wraps no layer with a .weight")
        features = self.input_features or getattr(self.layer, "in_features", None)
        if features is None:
            raise RuntimeError("the number of input features K is unknown: run a forward pass first")
        p = self.p
        weight_term = self.weight_regularizer * weight.pow(2).sum() / (1.0 - p)
        negative_entropy = p * torch.log(p) + (1.0 - p) * torch.log1p(-p)
        return weight_term + self.dropout_regularizer * features * negative_entropy

    def extra_repr(self) -> str:
        return (
            f"p={float(self.p.detach()):.4g}, temperature={self.temperature}, weight_regularizer={self.weight_regularizer}, "
            f"dropout_regularizer={self.dropout_regularizer}"
        )
