"""Which noise a network trains with: the ONE place that maps a variant name to layer factories.

A variant supplies up to two factories:

* ``noise(p, generator=g) -> nn.Module``: a layer applied to activations (dropout, Gaussian
  dropout...). Any module class whose constructor takes the drop probability first and a
  ``generator`` keyword plugs in as it is, e.g. :class:`dropout_theory.nn.Dropout`.
* ``linear(in_features, out_features, p, generator=g) -> nn.Module``: a linear layer that
  carries its own noise (DropConnect).

:func:`variant_sources` reports which class implements each variant; it is recorded with
the cached results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from dropout_theory import nn as dnn

NoiseFactory = Callable[..., nn.Module]
LinearFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class Variant:
    """A kind of training noise: the activation-noise factory and/or the noisy-linear factory."""

    name: str
    noise: NoiseFactory | None = None
    linear: LinearFactory | None = None
    source: str = ""


def _dropconnect(in_features: int, out_features: int, p: float, *, generator: torch.Generator | None = None) -> nn.Module:
    # keywords, so the call does not depend on where DropConnectLinear puts p among its arguments
    return dnn.DropConnectLinear(p=p, in_features=in_features, out_features=out_features, generator=generator)


def variants() -> dict[str, Variant]:
    """All variants by name: ``none``, ``bernoulli``, ``gaussian``, ``dropconnect``."""
    return {
        "none": Variant("none", source="no noise"),
        "bernoulli": Variant("bernoulli", noise=dnn.Dropout, source="dropout_theory.nn.Dropout"),
        "gaussian": Variant("gaussian", noise=dnn.GaussianDropout, source="dropout_theory.nn.GaussianDropout"),
        "dropconnect": Variant("dropconnect", linear=_dropconnect, source="dropout_theory.nn.DropConnectLinear"),
    }


def get_variant(name: str) -> Variant:
    found = variants()
    if name not in found:
        raise ValueError(f"variant must be one of {sorted(found)}, got {name!r}")
    return found[name]


def variant_sources() -> dict[str, str]:
    """Which class implements each variant in this installation (recorded with results)."""
    return {name: v.source for name, v in variants().items()}
