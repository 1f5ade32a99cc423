r"""Variance shift: dropout placed before BatchNorm changes the variance BatchNorm sees.

For one unit :math:`x` with mean :math:`c` and variance :math:`v`, inverted dropout with keep
probability :math:`q = 1 - p` outputs :math:`y = m x / q`, :math:`m \sim \mathrm{Bernoulli}(q)`
independent of :math:`x`. Then :math:`\mathbb{E}y = c` in both modes, but

.. math::
    \operatorname{Var}_{\text{train}}[y] = \frac{c^2 + v}{q} - c^2, \qquad
    \operatorname{Var}_{\text{test}}[y] = v, \qquad
    \frac{\operatorname{Var}_{\text{test}}}{\operatorname{Var}_{\text{train}}} = \frac{q v}{c^2 + v - q c^2} \le 1.

A BatchNorm layer after the dropout estimates its running variance in training, that is
:math:`\operatorname{Var}_{\text{train}}`, and divides by it at test time, when the variance is
only :math:`v`: the normalised unit shrinks by the square root of the ratio. The effect was
named *variance shift* by Li et al. (2019); the formulas here are derived and checked in this
package (the paper's own expressions are not reproduced).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from dropout_theory.nn import Dropout
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int, check_probability

BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def dropout_train_variance(mean: torch.Tensor | float, variance: torch.Tensor | float, p: float) -> torch.Tensor | float:
    r"""Variance after inverted dropout in training: :math:`(c^2 + v)/q - c^2` with :math:`q = 1 - p`.

    Args:
        mean: :math:`c`, the mean of the unit before dropout.
        variance: :math:`v \ge 0`, its variance.
        p: drop probability in [0, 1).

    Example:
        >>> dropout_train_variance(1.0, 1.0, p=0.5)
        3.0
    """
    q = 1.0 - check_probability("p", p, allow_one=False)
    return (mean**2 + variance) / q - mean**2


def variance_shift_ratio(mean: torch.Tensor | float, variance: torch.Tensor | float, p: float) -> torch.Tensor | float:
    r"""Test-time over training-time variance after inverted dropout: :math:`q v / (c^2 + v - q c^2)`.

    It equals 1 only when :math:`p = 0`; it falls as :math:`p` grows and as the mean
    :math:`c` grows relative to the spread :math:`\sqrt v`.

    Example:
        >>> variance_shift_ratio(1.0, 1.0, p=0.5)
        0.3333333333333333

    Reference: Li, Chen, Hu & Yang (2019), CVPR (the effect; this formula is derived here).
    """
    q = 1.0 - check_probability("p", p, allow_one=False)
    return q * variance / (mean**2 + variance - q * mean**2)


def dropout_batchnorm_mlp(
    d_in: int, hidden: int, d_out: int, p: float, *, generator: torch.Generator | None = None
) -> nn.Sequential:
    r"""``Linear -> ReLU -> Dropout(p) -> BatchNorm1d -> ReLU -> Linear``: dropout *before* BatchNorm.

    The dropout is the package's :class:`dropout_theory.nn.Dropout` with ``generator``; the
    weights are initialised from ``generator`` too, so the network is reproducible. Float64.
    """
    d_in, hidden, d_out = (check_positive_int(n, v) for n, v in (("d_in", d_in), ("hidden", hidden), ("d_out", d_out)))
    check_generator(generator)
    model = nn.Sequential(
        nn.Linear(d_in, hidden), nn.ReLU(), Dropout(p, generator=generator), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, d_out),
    ).to(torch.float64)
    with torch.no_grad():
        for layer in (model[0], model[5]):
            bound = layer.in_features**-0.5
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator, dtype=torch.float64) * 2 * bound - bound)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator, dtype=torch.float64) * 2 * bound - bound)
    return model


@contextmanager
def _modes_restored(model: nn.Module) -> Iterator[None]:
    """Restore every submodule's training flag and every BatchNorm's momentum on exit, also on error."""
    flags = {module: module.training for module in model.modules()}
    momenta = {module: module.momentum for module in model.modules() if isinstance(module, BATCHNORM_TYPES)}
    try:
        yield
    finally:
        for module, flag in flags.items():
            module.training = flag
        for module, momentum in momenta.items():
            module.momentum = momentum


def recalibrate_batchnorm(model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 256) -> nn.Module:
    r"""Re-estimate every BatchNorm's running mean and variance with dropout switched off.

    Dropout modules are put in evaluation mode and BatchNorm layers in training mode with
    ``momentum=None`` (a cumulative average over the batches of ``inputs``), so the running
    statistics become those the network meets at test time: the variance shift disappears.
    Only running statistics change (no gradient step); all modes and momenta are restored,
    also if the forward pass raises.

    Args:
        model: network containing BatchNorm layers.
        inputs: data, batched along dim 0.
        batch_size: batch size for the statistics.

    Returns:
        ``model`` (updated in place).
    """
    check_float_tensor("inputs", inputs)
    batch_size = check_positive_int("batch_size", batch_size)
    norms = [m for m in model.modules() if isinstance(m, BATCHNORM_TYPES)]
    if not norms:
        raise ValueError("model has no BatchNorm layer to recalibrate")
    with _modes_restored(model), torch.no_grad():
        model.eval()
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None
            norm.train()
        for start in range(0, inputs.shape[0], batch_size):
            model(inputs[start : start + batch_size])
    return model


def fit_classifier(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 0.01,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Train ``model`` with Adam on cross-entropy, minibatches drawn with replacement from ``generator``.

    The model is in training mode throughout (dropout on, BatchNorm updating its running
    statistics) and is left in evaluation mode.
    """
    check_float_tensor("inputs", inputs)
    check_generator(generator)
    steps, batch_size = check_positive_int("steps", steps), check_positive_int("batch_size", batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, inputs.shape[0], (batch_size,), generator=generator, device=inputs.device)
        loss = nn.functional.cross_entropy(model(inputs[index]), labels[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()
