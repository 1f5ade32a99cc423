"""Bernoulli keep-masks with explicit randomness.

A mask entry is 1 where the unit is kept (probability ``keep = 1 - p``) and 0 where it is
dropped. Same generator state -> same mask, on every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dropout_theory.validation import check_generator, check_probability


def uniform(
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U(0, 1) samples on ``device`` drawn from ``generator``.

    A generator lives on one device; when it differs from ``device`` we sample where the
    generator is and move the result, so a CPU generator reproduces the same numbers for a
    CUDA tensor (slower, but reproducible across devices).
    """
    check_generator(generator)
    device = torch.device(device) if device is not None else torch.get_default_device()
    if generator is not None and generator.device.type != device.type:
        return torch.rand(tuple(shape), generator=generator, device=generator.device, dtype=dtype).to(device)
    return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)


def bernoulli_mask(
    shape: Sequence[int],
    keep: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""Sample :math:`m_i \sim \mathrm{Bernoulli}(\text{keep})` i.i.d., returned in ``dtype``.

    Implemented as ``U < keep`` with ``U ~ U[0, 1)``: ``P(U < keep) = keep`` up to the
    :math:`2^{-24}` granularity of float32 uniforms (an error below :math:`6 \cdot 10^{-8}`), and a
    uniform draw is cheaper than ``torch.bernoulli`` on CPU.

    Args:
        shape: shape of the mask.
        keep: keep probability :math:`q = 1 - p`, in [0, 1].
        generator: source of randomness; ``None`` uses torch's global generator.
        device: where the mask lives (default: torch's default device).
        dtype: dtype of the returned 0/1 mask.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> bernoulli_mask((2, 3), keep=0.5, generator=g).shape
        torch.Size([2, 3])
    """
    return keep_mask(shape, keep, generator=generator, device=device).to(dtype)


def keep_mask(
    shape: Sequence[int],
    keep: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""The same mask as :func:`bernoulli_mask`, as a ``bool`` tensor (``True`` = kept).

    One byte per element instead of four for float32: this is the form dropout keeps for its
    backward pass. ``keep_mask(s, q, generator=g)`` and ``bernoulli_mask(s, q, generator=g)``
    agree element for element for the same generator state, and consume it identically.

    Args:
        shape: shape of the mask.
        keep: keep probability :math:`q = 1 - p`, in [0, 1].
        generator: source of randomness; ``None`` uses torch's global generator.
        device: where the mask lives (default: torch's default device).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> keep_mask((2, 3), keep=0.5, generator=g).dtype
        torch.bool
    """
    keep = check_probability("keep", keep)
    check_generator(generator)
    if keep == 1.0:
        return torch.ones(tuple(shape), device=device, dtype=torch.bool)
    if keep == 0.0:
        return torch.zeros(tuple(shape), device=device, dtype=torch.bool)
    return uniform(shape, generator=generator, device=device) < keep
