r"""Channel (spatial) dropout: drop whole feature maps.

For an input of shape :math:`(N, C, *)` one keep-gate :math:`m_{nc} \sim \mathrm{Bernoulli}(q)`
is drawn per sample and channel and broadcast over the spatial dimensions:

.. math:: y_{nc\ldots} = \frac{m_{nc}}{q}\, x_{nc\ldots}.

Tompson et al. (2015) introduced it ("SpatialDropout") because neighbouring pixels of a
feature map are strongly correlated, so element-wise dropout barely removes information.
torch calls it ``Dropout1d``/``Dropout2d``/``Dropout3d``.
"""

from __future__ import annotations

import torch

from dropout_theory.functional.bernoulli import apply_dropout_mask
from dropout_theory.functional.masks import bernoulli_mask
from dropout_theory.validation import check_float_tensor, check_generator, check_probability


def channel_mask_shape(shape: torch.Size | tuple[int, ...], *, batched: bool = True) -> tuple[int, ...]:
    """Shape of the channel mask for an input of ``shape``: ``(N, C, 1, ..., 1)`` or ``(C, 1, ..., 1)``."""
    leading = 2 if batched else 1
    if len(shape) < leading:
        layout = "(N, C, *)" if batched else "(C, *)"
        raise ValueError(f"channel dropout needs an input of shape {layout}, got {tuple(shape)}")
    return tuple(shape[:leading]) + (1,) * (len(shape) - leading)


def resolve_batched(ndim: int, *, batched: bool | None, spatial_dims: int | None) -> bool:
    """Decide whether an input with ``ndim`` dimensions carries a batch dimension.

    Rule (as torch's ``Dropout1d/2d/3d``): with ``spatial_dims = k``, an input of ``k + 2``
    dimensions is batched :math:`(N, C, *)` and one of ``k + 1`` dimensions is unbatched
    :math:`(C, *)`; any other ``ndim`` is an error. Without ``spatial_dims``, ``batched``
    decides (default True).
    """
    if spatial_dims is None:
        return True if batched is None else bool(batched)
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) or spatial_dims < 0:
        raise ValueError(f"spatial_dims must be a non-negative integer, got {spatial_dims!r}")
    if ndim == spatial_dims + 2:
        inferred = True
    elif ndim == spatial_dims + 1:
        inferred = False
    else:
        raise ValueError(
            f"channel dropout with {spatial_dims} spatial dims expects a {spatial_dims + 2}-D batched (N, C, *) "
            f"or {spatial_dims + 1}-D unbatched (C, *) input, got {ndim}-D"
        )
    if batched is not None and bool(batched) != inferred:
        raise ValueError(f"batched={batched} contradicts a {ndim}-D input with spatial_dims={spatial_dims}")
    return inferred


def channel_dropout(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    *,
    batched: bool | None = None,
    spatial_dims: int | None = None,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Zero whole channels with probability ``p``; scale the kept ones by :math:`1/(1-p)`.

    .. math:: y_{c} = \frac{m_c}{1-p}\, x_{c}, \qquad m_c \sim \mathrm{Bernoulli}(1-p),

    one gate per (sample, channel), shared by every spatial position of that channel. So each
    channel is either all zero or all scaled, and per element
    :math:`\mathbb{E}[y] = x`, :math:`\mathrm{Var}[y] = x^2 p/(1-p)` as for dropout.
    Evaluation (and ``p = 0``) returns ``x``; ``p = 1`` gives zeros.

    Args:
        x: input :math:`(N, C, *)`, or :math:`(C, *)` when unbatched; floating dtype.
        p: drop probability in [0, 1].
        training: apply the mask (True) or return ``x`` (False).
        batched: whether dimension 0 is the batch. Default: True, unless ``spatial_dims``
            decides.
        spatial_dims: number of spatial dimensions (1, 2, 3 for torch's
            ``Dropout1d/2d/3d``). When given, the input's ``ndim`` decides batched
            (``spatial_dims + 2``) or unbatched (``spatial_dims + 1``), and any other
            ``ndim`` raises.
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same mask.

    Shape:
        Input :math:`(N, C, *)` or :math:`(C, *)`; output the same shape, dtype and device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = channel_dropout(torch.ones(2, 4, 3, 3), 0.5, generator=g)
        >>> bool(((y == 0).all((2, 3)) | (y == 2).all((2, 3))).all())
        True

    Reference: Tompson, Goroshin, Jain, LeCun & Bregler (2015), §3.2 ("SpatialDropout").
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    is_batched = resolve_batched(x.ndim, batched=batched, spatial_dims=spatial_dims)
    shape = channel_mask_shape(x.shape, batched=is_batched)
    if not training or p == 0.0:
        return x
    mask = bernoulli_mask(shape, 1.0 - p, generator=generator, device=x.device, dtype=x.dtype)
    return apply_dropout_mask(x, mask, p, inplace=inplace)


def apply_channel_mask(
    x: torch.Tensor, channel_mask: torch.Tensor, p: float, *, batched: bool = True, inplace: bool = False
) -> torch.Tensor:
    r"""Apply a given channel keep-mask of shape ``(N, C)`` (or ``(C,)`` unbatched):
    :math:`y_c = m_c x_c/(1-p)`. Used to compare with torch on the same mask."""
    shape = channel_mask_shape(x.shape, batched=batched)
    expected = shape[: 2 if batched else 1]
    if tuple(channel_mask.shape) != expected:
        raise ValueError(f"channel_mask must have shape {expected} for input {tuple(x.shape)}, got {tuple(channel_mask.shape)}")
    return apply_dropout_mask(x, channel_mask.reshape(shape), p, inplace=inplace)
