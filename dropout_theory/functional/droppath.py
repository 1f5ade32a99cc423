r"""DropPath / stochastic depth: drop a whole residual branch, independently per sample.

Huang et al. (ECCV 2016) train a residual network
:math:`H_\ell = \mathrm{ReLU}(b_\ell f_\ell(H_{\ell-1}) + H_{\ell-1})` with
:math:`b_\ell \sim \mathrm{Bernoulli}(p_\ell)`, where their :math:`p_\ell` is the *survival*
(keep) probability. Here, as everywhere in this package, ``p`` is the *drop* probability:
``p = 1 - p_ell``. :func:`drop_path` is the op applied to the branch output
:math:`f_\ell(H_{\ell-1})` (as in timm's ``drop_path``).
"""

from __future__ import annotations

import torch

from dropout_theory.functional.bernoulli import dropout_scale
from dropout_theory.functional.masks import bernoulli_mask
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int, check_probability


def drop_path(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    inverted: bool = True,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Zero whole samples of a residual branch with probability ``p``.

    Training, inverted (default; timm's ``drop_path(..., scale_by_keep=True)``):

    .. math:: y_n = \frac{b_n}{1-p}\, x_n, \qquad b_n \sim \mathrm{Bernoulli}(1-p)\ \text{i.i.d. over samples } n,

    one gate per sample, shared by all its features, so :math:`\mathbb{E}[y] = x`;
    evaluation returns ``x``. Non-inverted (``inverted=False``, Huang et al. 2016):
    training :math:`y_n = b_n x_n` and evaluation :math:`y = (1-p)\,x`, the paper's test rule
    :math:`p_\ell f_\ell` with survival :math:`p_\ell = 1 - p`.

    Args:
        x: branch output, ``(N, *)`` with the batch first; a 1-D input is ``N`` scalar samples.
        p: drop probability of the branch in [0, 1]; ``p = 0`` is the identity, ``p = 1`` zeros.
        training: apply the random gates (True) or the evaluation rule.
        inverted: scale kept samples by :math:`1/(1-p)` in training (True) or scale by
            :math:`1-p` in evaluation (False).
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same gates.

    Shape:
        Input :math:`(N, *)`, output the same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = drop_path(torch.ones(4, 3), p=0.5, generator=g)
        >>> all(len(set(row.tolist())) == 1 for row in y)  # one gate per sample
        True

    Reference: Huang, Sun, Liu, Sedra & Weinberger (2016), "Deep networks with stochastic
    depth", ECCV, §3; Larsson, Maire & Shakhnarovich (2017), "FractalNet" (drop-path).
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if x.ndim < 1:
        raise ValueError(f"x must have a batch dimension, got a 0-d tensor of shape {tuple(x.shape)}")
    if not training:
        if inverted or p == 0.0:
            return x
        return x.mul_(1.0 - p) if inplace else x * (1.0 - p)
    if p == 0.0:
        return x
    gate_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    gates = bernoulli_mask(gate_shape, 1.0 - p, generator=generator, device=x.device, dtype=x.dtype)
    factor = gates * dropout_scale(p, inverted=inverted)
    return x.mul_(factor) if inplace else x * factor


def linear_decay_survival(L: int, p_L: float = 0.5) -> list[float]:
    r"""Huang et al.'s linear-decay schedule of *survival* probabilities for ``L`` blocks.

    .. math:: p_\ell = 1 - \frac{\ell}{L}(1 - p_L), \qquad \ell = 1, \dots, L,

    from :math:`p_0 = 1` (the input, never dropped) down to :math:`p_L` for the last block.
    The drop probability to pass to :func:`drop_path` for block :math:`\ell` is
    :math:`1 - p_\ell = \frac{\ell}{L}(1-p_L)`. The expected number of surviving blocks is
    :math:`\sum_\ell p_\ell = L - \frac{L+1}{2}(1 - p_L)`, i.e. :math:`(3L-1)/4` at
    :math:`p_L = 1/2`.

    Note: timm's models use ``torch.linspace(0, drop_path_rate, L)``, i.e. drop rates
    :math:`\frac{\ell - 1}{L - 1}\,\text{rate}`: the first block is never dropped and the
    schedule is not the same as this one.

    Args:
        L: number of residual blocks, at least 1.
        p_L: survival probability of the last block, in [0, 1] (the paper uses 0.5).

    Returns:
        ``[p_1, ..., p_L]``.

    Example:
        >>> linear_decay_survival(4, 0.5)
        [0.875, 0.75, 0.625, 0.5]
    """
    L = check_positive_int("L", L)
    p_L = check_probability("p_L", p_L)
    return [1.0 - (ell / L) * (1.0 - p_L) for ell in range(1, L + 1)]
