"""The seeded float64 networks and inputs that the ensemble chapter's claims enumerate."""

from __future__ import annotations

import math

import torch
from torch import nn

from dropout_theory.devices import seeded_generator
from dropout_theory.nn import Dropout


def seeded_net(*modules: nn.Module, seed: int, scale: float = 1.0) -> nn.Sequential:
    """float64 Sequential with N(0, scale^2/fan_in) weights from a seeded generator."""
    net = nn.Sequential(*modules).double()
    g = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for param in net.parameters():
            fan_in = param.shape[-1] if param.ndim > 1 else 1
            param.copy_(torch.randn(param.shape, generator=g, dtype=torch.float64) * scale / math.sqrt(fan_in))
    return net


def seeded_inputs(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=seeded_generator(seed, "cpu"), dtype=torch.float64)


def max_abs(t: torch.Tensor) -> float:
    return float(t.abs().max())


def logistic_unit(d: int, p: float, *, seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    """A logistic unit sigma(b + sum_i delta_i w_i I_i) with non-inverted dropout on its d inputs."""
    return seeded_net(Dropout(p, inverted=False), nn.Linear(d, 1), seed=seed, scale=2.0), seeded_inputs((5, d), seed + 1)


def softmax_layer(d: int, classes: int, p: float, *, seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    return seeded_net(Dropout(p, inverted=False), nn.Linear(d, classes), seed=seed, scale=2.0), seeded_inputs((3, d), seed + 1)


def linear_stack(seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    """Three linear layers with dropout before each: 5 + 4 + 3 = 12 units, mixed conventions."""
    net = seeded_net(Dropout(0.3, inverted=False), nn.Linear(5, 4), Dropout(0.5), nn.Linear(4, 3),
                     Dropout(0.2, inverted=False), nn.Linear(3, 2), seed=seed)
    return net, seeded_inputs((4, 5), seed + 1)
