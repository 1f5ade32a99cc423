r"""DropBlock (Ghiasi, Lin & Le, NeurIPS 2018): drop contiguous square blocks of a feature map.

Notation: ``p`` is the drop probability the caller asks for (the paper's ``1 - keep_prob``),
``b`` the block size, ``H x W`` the feature map. Block *origins* (top-left corners) are drawn
i.i.d. Bernoulli(:math:`\gamma`) on the ``(H - b + 1) x (W - b + 1)`` positions where a whole
block fits (the paper's "valid seed region", as torchvision does it), and every origin
zeroes the ``b x b`` block below and to the right of it. For odd ``b`` this is exactly
torchvision's mask: it places the *centre* on the valid region, which is the same set of
blocks shifted by ``b // 2``.

:math:`\gamma` follows eq. (1) of the paper,

.. math:: \gamma = \frac{p}{b^2}\,\frac{H W}{(H - b + 1)(W - b + 1)},

which would make the expected dropped fraction exactly ``p`` if blocks never overlapped.
They do, so the exact dropped fraction (:func:`drop_block_drop_fraction`) is a little
smaller than ``p``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as torch_F

from dropout_theory.functional.masks import uniform
from dropout_theory.validation import check_float_tensor, check_generator, check_positive_int, check_probability

Normalize = Literal["batch", "expected"]
NORMALIZE_MODES: tuple[str, ...] = ("batch", "expected")


def drop_block_gamma(p: float, block_size: int, height: int, width: int) -> float:
    r"""Origin rate :math:`\gamma = \frac{p}{b^2}\frac{HW}{(H-b+1)(W-b+1)}` (paper eq. 1, ``p = 1 - keep_prob``).

    :math:`\gamma \le p \le 1` always, because :math:`H \le b(H - b + 1)` whenever
    :math:`1 \le b \le H` (the difference is :math:`(b-1)(H-b)`).
    """
    p = check_probability("p", p)
    block_size, height, width = _check_geometry(block_size, height, width)
    valid = (height - block_size + 1) * (width - block_size + 1)
    return p * height * width / (block_size**2 * valid)


def _check_geometry(block_size: int, height: int, width: int) -> tuple[int, int, int]:
    block_size = check_positive_int("block_size", block_size)
    height = check_positive_int("height", height)
    width = check_positive_int("width", width)
    if block_size > min(height, width):
        raise ValueError(
            f"block_size must not exceed the feature map: got block_size={block_size} for a {height}x{width} map"
        )
    return block_size, height, width


def cover_counts(block_size: int, size: int) -> torch.Tensor:
    """For each coordinate ``y`` of an axis of length ``size``: how many valid origins
    ``i in [0, size - b]`` have a block ``[i, i + b)`` covering ``y``."""
    y = torch.arange(size, dtype=torch.int64)
    return torch.minimum(y, torch.tensor(size - block_size)) - torch.clamp(y - block_size + 1, min=0) + 1


def drop_block_drop_fraction(p: float, block_size: int, height: int, width: int) -> float:
    r"""Exact expected fraction of a ``H x W`` map that DropBlock zeroes.

    Position :math:`(y, x)` is kept iff none of the :math:`n_y n_x` origins whose block
    covers it is drawn, where :math:`n_y` (:func:`cover_counts`) counts the valid origins
    within :math:`b` rows above it. Origins are independent, so

    .. math:: \mathbb{E}[\text{dropped fraction}] = 1 - \frac{1}{HW}\sum_{y,x}(1-\gamma)^{n_y n_x}.

    Example: ``p = 0.1``, ``b = 7``, ``H = W = 28`` gives 0.0939..., not 0.1. At ``p = 1``
    the op drops everything (a special case, not eq. 1), and this returns 1.
    """
    if check_probability("p", p) == 1.0:
        _check_geometry(block_size, height, width)
        return 1.0
    gamma = drop_block_gamma(p, block_size, height, width)
    n_y = cover_counts(block_size, height).to(torch.float64)
    n_x = cover_counts(block_size, width).to(torch.float64)
    kept = torch.pow(torch.tensor(1.0 - gamma, dtype=torch.float64), n_y[:, None] * n_x[None, :])
    return float(1.0 - kept.mean())


def block_mask_from_origins(origins: torch.Tensor, block_size: int) -> torch.Tensor:
    """Turn 0/1 block origins ``(N, C, H - b + 1, W - b + 1)`` into a keep-mask ``(N, C, H, W)``.

    A max-pool over the origins padded by ``b - 1`` on every side marks each position that
    some drawn origin covers; the keep-mask is its complement.
    """
    pad = block_size - 1
    covered = torch_F.max_pool2d(torch_F.pad(origins, [pad, pad, pad, pad]), kernel_size=block_size, stride=1)
    return 1.0 - covered


def drop_block_mask(
    shape: tuple[int, int, int, int] | torch.Size,
    p: float,
    block_size: int,
    *,
    shared_channels: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Sample a DropBlock keep-mask (1 = kept) for an input of ``shape = (N, C, H, W)``.

    Returns ``(N, C, H, W)``, or ``(N, 1, H, W)`` with ``shared_channels=True`` (one mask per
    sample, broadcast over channels). ``p = 1`` returns all zeros.
    """
    p = check_probability("p", p)
    check_generator(generator)
    if len(shape) != 4:
        raise ValueError(f"shape must be (N, C, H, W), got {tuple(shape)}")
    n, c, height, width = (int(s) for s in shape)
    block_size, height, width = _check_geometry(block_size, height, width)
    channels = 1 if shared_channels else c
    if p == 1.0:
        return torch.zeros((n, channels, height, width), device=device, dtype=dtype)
    gamma = drop_block_gamma(p, block_size, height, width)
    origins_shape = (n, channels, height - block_size + 1, width - block_size + 1)
    origins = (uniform(origins_shape, generator=generator, device=device) < gamma).to(torch.float32)
    return block_mask_from_origins(origins, block_size).to(dtype)


def drop_block2d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    training: bool = True,
    *,
    shared_channels: bool = False,
    normalize: Normalize = "batch",
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""DropBlock: zero random ``block_size x block_size`` squares of each feature map.

    Training: :math:`y = x \odot M \cdot s` with the keep-mask :math:`M` of
    :func:`drop_block_mask` (origins drawn at rate :math:`\gamma` of eq. 1) and

    * ``normalize="batch"`` (default; the paper's Algorithm 1 and torchvision):
      :math:`s = \mathrm{numel}(M) / \sum M`, the kept fraction *of this mask* over the
      whole batch (``0`` when nothing is kept, never ``inf``/``nan``);
    * ``normalize="expected"``: :math:`s = 1/(1 - \delta)` with :math:`\delta` the exact
      expected dropped fraction (:func:`drop_block_drop_fraction`), so that
      :math:`\mathbb{E}[y] = x` exactly (the batch rule is a ratio estimator: unbiased only
      as the batch grows).

    Evaluation: the identity (``x`` itself is returned). ``p = 0`` is the identity and
    ``p = 1`` gives zeros.

    Args:
        x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, floating dtype.
        p: drop probability in [0, 1] (the paper's ``1 - keep_prob``).
        block_size: side ``b`` of the square block, ``1 <= b <= min(H, W)``; ``b = 1`` is
            ordinary element-wise dropout.
        training: apply the random mask (True) or return ``x``.
        shared_channels: one mask per sample shared by all channels (True) or one per
            channel (False, the default, as in the paper's experiments and torchvision).
        normalize: ``"batch"`` or ``"expected"``, see above.
        inplace: overwrite ``x``.
        generator: source of randomness; same state -> same mask.

    Shape:
        Input :math:`(N, C, H, W)` or :math:`(C, H, W)`; output the same shape, dtype, device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> drop_block2d(torch.ones(2, 3, 16, 16), p=0.1, block_size=5, generator=g).shape
        torch.Size([2, 3, 16, 16])

    Reference: Ghiasi, Lin & Le (2018), "DropBlock: A regularization method for
    convolutional networks", NeurIPS, Algorithm 1 and eq. (1).
    """
    p = check_probability("p", p)
    check_float_tensor("x", x)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be (N, C, H, W) or unbatched (C, H, W), got shape {tuple(x.shape)}")
    batched = x.ndim == 4
    shape = x.shape if batched else (1, *x.shape)
    _check_geometry(block_size, shape[2], shape[3])
    if not training or p == 0.0:
        return x
    mask = drop_block_mask(
        shape, p, block_size, shared_channels=shared_channels, generator=generator, device=x.device, dtype=torch.float32
    )
    if normalize == "batch":
        kept = float(mask.sum())
        scale = mask.numel() / kept if kept > 0 else 0.0
    else:
        dropped = drop_block_drop_fraction(p, block_size, shape[2], shape[3])
        scale = 1.0 / (1.0 - dropped) if dropped < 1.0 else 0.0
    factor = (mask * scale).to(x.dtype)
    if not batched:
        factor = factor.squeeze(0)
    return x.mul_(factor) if inplace else x * factor
