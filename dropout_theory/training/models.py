"""Multilayer perceptrons with a pluggable kind of dropout, initialised from an explicit generator."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dropout_theory.nn import DropConnectLinear
from dropout_theory.training.variants import Variant, get_variant
from dropout_theory.validation import check_positive_int, check_probability


def init_linear_(layer: nn.Linear, generator: torch.Generator) -> None:
    r"""PyTorch's default ``nn.Linear`` initialisation, :math:`\mathcal U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})`, drawn from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) * 2 * bound - bound)
        if layer.bias is not None:
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator) * 2 * bound - bound)


def build_mlp(
    sizes: Sequence[int],
    *,
    variant: str | Variant = "bernoulli",
    p_hidden: float = 0.5,
    p_input: float = 0.0,
    init_generator: torch.Generator,
    noise_generator: torch.Generator | None = None,
) -> nn.Sequential:
    r"""A ReLU MLP ``sizes[0] -> ... -> sizes[-1]`` with the training noise of ``variant``.

    Activation noise (dropout, Gaussian dropout) goes on the input with probability
    ``p_input`` and after every hidden ReLU with probability ``p_hidden``, as in Srivastava
    et al. (2014, Fig. 3). DropConnect acts at the same places: it masks the *weights* of every
    layer that reads hidden units with ``p_hidden``, and of the first layer with ``p_input``
    (dropout removes whole columns of those weight matrices, DropConnect single entries).
    A place with probability 0 gets a plain ``nn.Linear`` and no noise layer.

    Args:
        sizes: layer widths, input first, number of classes last (at least two entries).
        variant: a name from :func:`~dropout_theory.training.variants.variants` or a :class:`Variant`.
        p_hidden: drop probability of hidden units (or hidden weights for DropConnect).
        p_input: drop probability of input units.
        init_generator: CPU generator for the initial weights, so a seed gives the same
            network on every device.
        noise_generator: generator for every mask the network draws (on the device it will run on).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> build_mlp([784, 256, 10], init_generator=g)
        Sequential(...)
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must have at least 2 entries (input, output), got {list(sizes)}")
    sizes = [check_positive_int("sizes[i]", s) for s in sizes]
    p_hidden = check_probability("p_hidden", p_hidden, allow_one=False)
    p_input = check_probability("p_input", p_input, allow_one=False)
    chosen = get_variant(variant) if isinstance(variant, str) else variant
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        p_before = p_input if i == 0 else p_hidden
        if chosen.noise is not None and p_before > 0:
            layers.append(chosen.noise(p_before, generator=noise_generator))
        if chosen.linear is not None and p_before > 0:
            linear = chosen.linear(fan_in, fan_out, p_before, generator=noise_generator)
        else:
            linear = nn.Linear(fan_in, fan_out)
        init_linear_(linear, init_generator)
        layers.append(linear)
        if i < last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def constrained_layers(model: nn.Module) -> list[nn.Linear]:
    """The layers whose rows :func:`apply_max_norm_` constrains: every ``nn.Linear`` and ``DropConnectLinear``."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, DropConnectLinear))]


@torch.no_grad()
def apply_max_norm_(model: nn.Module, max_norm: float) -> None:
    r"""Project each unit's incoming weight vector onto the ball :math:`\|w_i\|_2 \le c`.

    For every linear layer, row :math:`i` of the weight (the weights into unit :math:`i`)
    becomes :math:`w_i \min(1, c/\|w_i\|_2)` (Srivastava et al. 2014, §5.1). Biases are not
    constrained. Modifies the model in place.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    for layer in constrained_layers(model):
        norms = layer.weight.norm(dim=1, keepdim=True)
        layer.weight.mul_(torch.clamp(max_norm / norms.clamp(min=torch.finfo(norms.dtype).tiny), max=1.0))
