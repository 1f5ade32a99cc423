"""Standard (Bernoulli) dropout, inverted and non-inverted.

Notation: ``p`` is the drop probability, ``q = 1 - p`` the keep probability, ``m`` the
keep-mask with :math:`m_i \\sim \\mathrm{Bernoulli}(q)`.
"""

from __future__ import annotations

import torch

from dropout_theory.functional.mask_autograd import regenerated_mask_dropout, stored_mask_dropout
from dropout_theory.validation import check_float_tensor, check_generator, check_probability


def dropout_scale(p: float, *, inverted: bool = True) -> float:
    """Factor applied to kept units in training: ``1/(1-p)`` if inverted, else 1.

    At ``p = 1`` every unit is dropped, so the factor is irrelevant; we return 0 rather
    than ``inf`` so that ``mask * scale`` is exactly zero instead of ``0 * inf = nan``.
    """
    if not inverted:
        return 1.0
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


def apply_dropout_mask(
    x: torch.Tensor, mask: torch.Tensor, p: float, *, inverted: bool = True, inplace: bool = False
) -> torch.Tensor:
    r"""Apply a given keep-mask: :math:`y = x \odot m / (1-p)` (inverted) or :math:`x \odot m`.

    This is the deterministic half of :func:`dropout`; tests use it to compare with torch's
    own dropout on the very same mask.

    Args:
        x: input tensor.
        mask: 0/1 tensor broadcastable to ``x``.
        p: drop probability the mask was drawn with.
        inverted: scale kept units by :math:`1/(1-p)`.
        inplace: overwrite ``x``.
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    mask = mask.to(dtype=x.dtype, device=x.device)
    scale = dropout_scale(p, inverted=inverted)
    # Multiply by the 0/1 mask first (exact), then by the Python scalar: torch computes a
    # scalar product in its higher "opmath" precision and rounds once, so float16/bfloat16
    # outputs equal torch's own ``x * scale`` instead of suffering a rounded-scale error.
    out = x.mul_(mask) if inplace else x * mask
    return out if scale == 1.0 else out.mul_(scale)


def dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    inverted: bool = True,
    inplace: bool = False,
    generator: torch.Generator | None = None,
    low_memory: bool = False,
) -> torch.Tensor:
    r"""Dropout with keep probability :math:`q = 1 - p`.

    Training, inverted (the default, as in PyTorch and Keras):

    .. math:: y_i = \frac{m_i x_i}{q}, \qquad m_i \sim \mathrm{Bernoulli}(q)\ \text{i.i.d.},
              \qquad \mathbb{E}[y_i] = x_i, \qquad \mathrm{Var}[y_i] = x_i^2 \frac{p}{1-p}.

    Evaluation, inverted: :math:`y = x` (the input itself is returned).

    Non-inverted (``inverted=False``, Srivastava et al. 2014): training :math:`y = m \odot x`
    with :math:`\mathbb{E}[y] = q x`; evaluation :math:`y = q x`, which matches that mean.

    Args:
        x: input of any shape, floating dtype.
        p: drop probability in [0, 1]. ``p = 0`` is the identity, ``p = 1`` gives zeros.
        training: apply the random mask (True) or the deterministic evaluation rule.
        inverted: where the :math:`1/q` correction goes (training) or not (evaluation).
        inplace: overwrite ``x`` instead of allocating the output.
        generator: source of randomness; same state -> same mask.
        low_memory: keep only the generator's state for the backward pass and draw the
            mask again there, instead of keeping the mask (one byte per element). Same
            output and bit-identical gradients; costs a second draw of the uniforms in
            backward. ``generator=None`` replays torch's default generator of ``x.device``.

    The training output is :math:`(x \odot m)\,s` with :math:`m_i = \mathbb 1[U_i < q]`, the
    mask :func:`~dropout_theory.functional.bernoulli_mask` draws from the same generator
    state, and :math:`s = 1/q` (inverted) or 1. The mask is kept as ``bool``, not as a float
    factor, and drawn by thresholding float32 uniforms, which on CPU is about twice as fast
    as torch's float Bernoulli sampling (see the book's performance chapter). On CUDA without
    an explicit generator (and inverted, not ``low_memory``) the op is torch's own fused
    dropout kernel, which draws from the device's default generator.

    Shape:
        Input :math:`(*)`, output :math:`(*)`, same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = dropout(torch.ones(4), p=0.5, generator=g)
        >>> sorted(set(y.tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True

    Reference: Srivastava et al. (2014), JMLR 15:1929-1958, §4 and §10.
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if not isinstance(low_memory, bool):
        raise TypeError(f"low_memory must be a bool, got {low_memory!r}")
    q = 1.0 - p
    if not training:
        if inverted or p == 0.0:
            return x
        return x.mul_(q) if inplace else x * q
    if p == 0.0:
        return x
    if x.device.type == "cuda" and generator is None and inverted and not low_memory:
        # torch's fused CUDA kernel draws its Philox numbers in registers: one read, one write
        # and a byte of mask per element, close to copy bandwidth. It can only draw from the
        # device's default generator, so an explicit generator takes the reproducible path below.
        return torch.nn.functional.dropout(x, p, training=True, inplace=inplace)
    sample = regenerated_mask_dropout if low_memory else stored_mask_dropout
    return sample(x, q, dropout_scale(p, inverted=inverted), generator=generator, inplace=inplace)
