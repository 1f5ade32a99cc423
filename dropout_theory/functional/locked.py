r"""Locked (variational) dropout for sequences: one mask per sequence, shared over time.

Gal & Ghahramani (NeurIPS 2016) drop the *same* units at every time step of a sequence,
instead of drawing a fresh mask per step (the "naive" scheme, which is ordinary
:func:`~dropout_theory.functional.dropout` applied to every step). ``p`` is the drop
probability; Gal & Ghahramani write :math:`p` for the keep probability.
"""

from __future__ import annotations

import torch

from dropout_theory.functional.bernoulli import apply_dropout_mask
from dropout_theory.functional.masks import bernoulli_mask
from dropout_theory.validation import check_float_tensor, check_generator, check_probability


def locked_dropout(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    batch_first: bool = False,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Dropout with one mask per sequence, the same at every time step.

    For a sequence :math:`x_1, \dots, x_T` of feature vectors:

    .. math:: y_t = \frac{m \odot x_t}{1-p}, \qquad m_i \sim \mathrm{Bernoulli}(1-p)\ \text{i.i.d., drawn once per sequence},

    so :math:`\mathbb{E}[y_t] = x_t` and a unit dropped at one step is dropped at all steps.
    Evaluation returns ``x``.

    Args:
        x: ``(T, N, F)`` (or ``(N, T, F)`` with ``batch_first=True``), or an unbatched
            ``(T, F)`` sequence; floating dtype.
        p: drop probability in [0, 1]; ``p = 0`` is the identity, ``p = 1`` gives zeros.
        training: apply the mask (True) or return ``x``.
        batch_first: the batch dimension comes before time (as in ``nn.LSTM``).
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same mask.

    Shape:
        Input :math:`(T, N, F)`, :math:`(N, T, F)` or :math:`(T, F)`; output the same. The
        mask has shape :math:`(1, N, F)`, :math:`(N, 1, F)` or :math:`(1, F)`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = locked_dropout(torch.ones(5, 2, 3), p=0.5, generator=g)
        >>> bool((y == y[0]).all())  # identical over time
        True

    Reference: Gal & Ghahramani (2016), "A theoretically grounded application of dropout in
    recurrent neural networks", NeurIPS, §4; Merity, Keskar & Socher (2018), AWD-LSTM
    (``LockedDropout``).
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (T, N, F), (N, T, F) with batch_first, or unbatched (T, F); got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    time_dim = 1 if (batch_first and x.ndim == 3) else 0
    mask_shape = list(x.shape)
    mask_shape[time_dim] = 1
    mask = bernoulli_mask(mask_shape, 1.0 - p, generator=generator, device=x.device, dtype=x.dtype)
    return apply_dropout_mask(x, mask, p, inplace=inplace)
