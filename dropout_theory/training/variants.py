"""Which noise a network trains with: the ONE place that maps a variant name to layer factories.

A variant supplies up to two factories:

* ``noise(p, generator=g) -> nn.Module``: a layer applied to activations (dropout, Gaussian
  dropout...). Any module class whose constructor takes the drop probability first and a
  ``generator`` keyword plugs in as it is, e.g. :class:`dropout_theory.nn.Dropout`.
* ``linear(in_features, out_features, p, generator=g) -> nn.Module``: a linear layer that
  carries its own noise (DropConnect).

Classes from :mod:`dropout_theory.nn` are used when the package has them; otherwise this
module's reference layers below stand in, with the same maths, so the experiments run either
way. :func:`variant_sources` reports which implementation each variant uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from dropout_theory import nn as dnn
from dropout_theory.functional import bernoulli_mask
from dropout_theory.validation import check_generator, check_probability

NoiseFactory = Callable[..., nn.Module]
LinearFactory = Callable[..., nn.Module]


class MultiplicativeGaussianNoise(nn.Module):
    r"""Gaussian dropout: :math:`y = x \odot \xi`, :math:`\xi \sim \mathcal N(1, \alpha)`, :math:`\alpha = p/(1-p)`.

    The noise matches the mean and variance of inverted Bernoulli dropout with drop
    probability ``p`` (Srivastava et al. 2014, §10; Kingma et al. 2015); identity in evaluation.
    Used by the experiments when :mod:`dropout_theory.nn` has no ``GaussianDropout``.

    Args:
        p: drop probability of the Bernoulli dropout it imitates, in [0, 1).
        generator: source of the noise.
    """

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p, allow_one=False)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = self.generator
        noise = torch.randn(x.shape, generator=g, device=g.device if g is not None else x.device, dtype=x.dtype).to(x.device)
        return x * (1.0 + math.sqrt(self.p / (1.0 - self.p)) * noise)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaskedWeightLinear(nn.Linear):
    r"""DropConnect: :math:`y = ((M \odot W)/(1-p))\,x + b`, :math:`M_{ij} \sim \mathrm{Bernoulli}(1-p)`.

    One weight mask per forward pass (shared by the minibatch), inverted scaling so that
    evaluation uses :math:`W` itself (the mean network; Wan et al. 2013 instead sample a
    Gaussian moment-matched pre-activation at inference). Used by the experiments when
    :mod:`dropout_theory.nn` has no ``DropConnectLinear``.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(in_features, out_features)
        self.p = check_probability("p", p, allow_one=False)
        self.generator = check_generator(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return super().forward(x)
        mask = bernoulli_mask(self.weight.shape, 1.0 - self.p, generator=self.generator, device=self.weight.device, dtype=self.weight.dtype)
        return nn.functional.linear(x, self.weight * mask / (1.0 - self.p), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


@dataclass(frozen=True)
class Variant:
    """A kind of training noise: the activation-noise factory and/or the noisy-linear factory."""

    name: str
    noise: NoiseFactory | None = None
    linear: LinearFactory | None = None
    source: str = ""


def _package_or(name: str, fallback: type[nn.Module]) -> tuple[type[nn.Module], str]:
    found = getattr(dnn, name, None)
    return (found, f"dropout_theory.nn.{name}") if found is not None else (fallback, f"{__name__}.{fallback.__name__}")


def _dropconnect_factory() -> tuple[LinearFactory, str]:
    found = getattr(dnn, "DropConnectLinear", None)
    if found is None:
        return MaskedWeightLinear, f"{__name__}.MaskedWeightLinear"
    # keywords, so the call does not depend on where the package puts p among the arguments

    def build(in_features: int, out_features: int, p: float, *, generator: torch.Generator | None = None) -> nn.Module:
        return found(p=p, in_features=in_features, out_features=out_features, generator=generator)

    return build, "dropout_theory.nn.DropConnectLinear"


def variants() -> dict[str, Variant]:
    """All variants by name: ``none``, ``bernoulli``, ``gaussian``, ``dropconnect``."""
    gaussian, gaussian_source = _package_or("GaussianDropout", MultiplicativeGaussianNoise)
    dropconnect, dropconnect_source = _dropconnect_factory()
    return {
        "none": Variant("none", source="no noise"),
        "bernoulli": Variant("bernoulli", noise=dnn.Dropout, source="dropout_theory.nn.Dropout"),
        "gaussian": Variant("gaussian", noise=gaussian, source=gaussian_source),
        "dropconnect": Variant("dropconnect", linear=dropconnect, source=dropconnect_source),
    }


def get_variant(name: str) -> Variant:
    found = variants()
    if name not in found:
        raise ValueError(f"variant must be one of {sorted(found)}, got {name!r}")
    return found[name]


def variant_sources() -> dict[str, str]:
    """Which class implements each variant in this installation (recorded with results)."""
    return {name: v.source for name, v in variants().items()}
