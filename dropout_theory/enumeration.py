"""Exact expectations over all :math:`2^d` dropout masks, in float64, chunked.

A mask :math:`m \\in \\{0,1\\}^d` (1 = kept) has probability
:math:`q^{|m|}(1-q)^{d-|m|}` when each unit is kept independently with probability q.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from dropout_theory.validation import check_probability

MAX_ENUMERATED_UNITS = 30


def _check_units(d: int) -> int:
    if isinstance(d, bool) or not isinstance(d, int) or d < 0:
        raise ValueError(f"d must be a non-negative integer, got {d!r}")
    if d > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"d={d} means 2^{d} = {2**d:.3e} masks; exact enumeration is limited to d <= {MAX_ENUMERATED_UNITS}"
        )
    return d


def mask_rows(start: int, stop: int, d: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Masks number ``start .. stop-1`` as rows of 0/1 float64; bit j of the index is unit j."""
    index = torch.arange(start, stop, device=device, dtype=torch.int64)
    bits = torch.arange(d, device=device, dtype=torch.int64)
    return ((index[:, None] >> bits) & 1).to(torch.float64)


def all_masks(d: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """All :math:`2^d` masks as a ``(2^d, d)`` float64 tensor."""
    return mask_rows(0, 2 ** _check_units(d), d, device=device)


def mask_probabilities(masks: torch.Tensor, keep: float | torch.Tensor) -> torch.Tensor:
    """:math:`\\prod_i q_i^{m_i}(1-q_i)^{1-m_i}` for each row; ``keep`` scalar or per unit."""
    if not isinstance(keep, torch.Tensor):
        keep = check_probability("keep", keep)
    keep = torch.as_tensor(keep, dtype=torch.float64, device=masks.device)
    return torch.where(masks > 0, keep, 1.0 - keep).prod(dim=-1)


def iter_mask_chunks(
    d: int, chunk: int = 1 << 16, *, device: torch.device | str | None = None
) -> Iterator[torch.Tensor]:
    """All masks, ``chunk`` rows at a time (memory stays ``O(chunk * d)``)."""
    total = 2 ** _check_units(d)
    for start in range(0, total, chunk):
        yield mask_rows(start, min(start + chunk, total), d, device=device)


def expectation_over_masks(
    f: Callable[[torch.Tensor], torch.Tensor],
    d: int,
    keep: float | torch.Tensor,
    *,
    chunk: int = 1 << 16,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """:math:`\\sum_m P(m) f(m)` exactly, where ``f`` maps ``(n, d)`` masks to ``(n, *)``."""
    total: torch.Tensor | None = None
    for masks in iter_mask_chunks(d, chunk, device=device):
        weights = mask_probabilities(masks, keep)
        values = f(masks).to(torch.float64)
        part = torch.einsum("n,n...->...", weights, values)
        total = part if total is None else total + part
    assert total is not None  # d >= 0 gives at least one mask
    return total
