r"""DropConnect: drop individual weights instead of units.

A linear layer :math:`u = Wv` becomes :math:`u = (M \star W) v` with an i.i.d. keep-mask
:math:`M_{ij} \sim \mathrm{Bernoulli}(q)` on the *weights* (Wan et al. 2013; ``\star`` is the
element-wise product). This package uses the **inverted** convention, as for dropout:
training computes :math:`(M \star W)v / q`, so the plain evaluation output is :math:`Wv`.
Wan et al. use the keep-scaled convention (train with :math:`(M\star W)v`, mean
:math:`qWv`); the two describe the same model up to :math:`W \to qW`. The bias is never
masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from dropout_theory.functional.bernoulli import dropout_scale
from dropout_theory.functional.gaussian import standard_normal
from dropout_theory.functional.local_reparameterisation import _check_linear
from dropout_theory.functional.mask_autograd import default_generator, replay_generator
from dropout_theory.functional.masks import bernoulli_mask, keep_mask
from dropout_theory.validation import check_generator, check_positive_int, check_probability

#: Per-example DropConnect materialises at most this many mask entries at once by default
#: (or one example's ``out * in`` if that is larger):
#: ``chunk_size = max(1, DROPCONNECT_CHUNK_ELEMENTS // (out_features * in_features))``.
DROPCONNECT_CHUNK_ELEMENTS = 1 << 22


def default_chunk_size(out_features: int, in_features: int) -> int:
    """Examples per chunk so that one chunk's masks hold at most ``DROPCONNECT_CHUNK_ELEMENTS`` entries."""
    return max(1, DROPCONNECT_CHUNK_ELEMENTS // max(1, out_features * in_features))


def apply_dropconnect_mask(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor, p: float
) -> torch.Tensor:
    r"""Apply a given weight keep-mask: :math:`u = (M \star W) x / (1-p) + \text{bias}`.

    ``mask`` is ``(out, in)`` (one mask for all examples) or ``(B, out, in)`` with one mask
    per row of ``x`` flattened to ``(B, in)``.
    """
    p = check_probability("p", p)
    _check_linear(x, weight, bias)
    scale = dropout_scale(p)
    mask = mask.to(dtype=x.dtype, device=x.device)
    if mask.shape == weight.shape:
        return torch.nn.functional.linear(x, weight * mask * scale, bias)
    rows = x.reshape(-1, x.shape[-1])
    if mask.shape != (rows.shape[0], *weight.shape):
        raise ValueError(f"mask must have shape {tuple(weight.shape)} or {(rows.shape[0], *weight.shape)}, got {tuple(mask.shape)}")
    out = torch.einsum("boi,bi->bo", mask * weight * scale, rows)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


class PerExampleDropConnect(torch.autograd.Function):
    r"""``rows (B, in) -> (B, out)``, row :math:`b` through its own masked weights :math:`(M_b \star W)\,s`.

    Neither the masks nor the masked weights are kept for the backward pass: the forward pass
    saves ``rows``, the ``weight`` parameter itself and the state of the generator before the
    first draw; the backward pass replays the draws, chunk by chunk in the same order, from a
    private generator set to that state (so the caller's generator is not advanced again), and
    accumulates

    .. math:: \frac{\partial L}{\partial W} = s \sum_b M_b \star (g_b x_b^\top), \qquad
              \frac{\partial L}{\partial x_b} = s\,(M_b \star W)^\top g_b,

    with :math:`s = 1/(1-p)` and :math:`g_b` the upstream gradient of row :math:`b`. At most one
    chunk of masks exists at a time in either pass: ``chunk * out * in`` entries (forward: the
    masked weights in the input's dtype; backward: a ``bool`` mask and one buffer in the input's
    dtype). The price is a second draw of the random numbers in the backward pass.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        rows: torch.Tensor,
        weight: torch.Tensor,
        keep: float,
        scale: float,
        chunk: int,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        # generator=None means the default generator of the input's device: name it, so its
        # state can be saved and replayed exactly as an explicit generator's (as low-memory dropout does).
        source = generator if generator is not None else default_generator(rows.device)
        ctx.generator_device = source.device
        ctx.state = source.get_state()
        ctx.keep, ctx.scale, ctx.chunk = keep, scale, chunk
        ctx.save_for_backward(rows, weight)
        scaled = weight * scale
        pieces = []
        for start in range(0, rows.shape[0], chunk):
            part = rows[start : start + chunk]
            mask = bernoulli_mask((part.shape[0], *weight.shape), keep, generator=source, device=rows.device, dtype=rows.dtype)
            pieces.append(torch.einsum("boi,bi->bo", mask.mul_(scaled), part))
        return torch.cat(pieces) if pieces else rows.new_zeros((0, weight.shape[0]))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        if torch.is_grad_enabled():  # only under create_graph=True
            raise RuntimeError(
                "per-example dropconnect_linear has no double backward: its backward pass redraws the masks "
                "and is not itself differentiable (got create_graph=True)"
            )
        rows, weight = ctx.saved_tensors
        need_rows, need_weight = ctx.needs_input_grad[:2]
        if not (need_rows or need_weight):
            return None, None, None, None, None, None
        replay = replay_generator(ctx.generator_device, ctx.state)
        scaled = weight * ctx.scale if need_rows else None
        grad_weight = torch.zeros_like(weight) if need_weight else None
        # One chunk-sized work buffer, reused: allocating a fresh one per chunk costs page faults.
        work = weight.new_empty((min(ctx.chunk, rows.shape[0]), *weight.shape))
        partial = torch.empty_like(weight) if need_weight else None
        grad_pieces = []
        for start in range(0, rows.shape[0], ctx.chunk):
            part, upstream = rows[start : start + ctx.chunk], grad[start : start + ctx.chunk]
            # Same shapes, same order, same state: the same masks as the forward pass drew.
            mask = keep_mask((part.shape[0], *weight.shape), ctx.keep, generator=replay, device=rows.device)
            buffer = work[: part.shape[0]]
            if need_rows:
                torch.mul(scaled, mask, out=buffer)  # M_b * W * s
                grad_pieces.append(torch.einsum("boi,bo->bi", buffer, upstream))
            if need_weight:
                torch.mul(upstream.unsqueeze(2), part.unsqueeze(1), out=buffer).mul_(mask)  # M_b * (g_b x_b^T)
                grad_weight += torch.sum(buffer, 0, out=partial)
        grad_rows = None
        if need_rows:
            grad_rows = torch.cat(grad_pieces) if grad_pieces else torch.zeros_like(rows)
        if need_weight:
            grad_weight.mul_(ctx.scale)
        return grad_rows, grad_weight, None, None, None, None


def dropconnect_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    p: float,
    training: bool = True,
    *,
    per_example: bool = False,
    chunk_size: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""A linear layer whose weights are dropped independently with probability ``p``.

    .. math:: u = \frac{(M \star W)\,x}{1-p} + \text{bias}, \qquad M_{ij} \sim \mathrm{Bernoulli}(1-p),

    :math:`\mathbb{E}[u] = Wx + \text{bias}` and
    :math:`\mathrm{Var}[u] = \frac{p}{1-p}(W \star W)(x \star x)` per output (the inverted form
    of Wan et al.'s :math:`q(1-q)(W\star W)(v\star v)`). Evaluation returns the mean
    :math:`Wx + \text{bias}`; :func:`dropconnect_moment_matching` is Wan et al.'s inference
    for a nonlinearity.

    Args:
        x: input ``(*, in_features)``.
        weight: ``(out_features, in_features)``, as in ``torch.nn.Linear``.
        bias: ``(out_features,)`` or None; never masked.
        p: drop probability of each weight, in [0, 1]. ``p = 1`` gives the bias alone.
        training: sample a mask (True) or return the mean (False).
        per_example: one mask per example (each row of ``x`` flattened to ``(B, in)``) instead
            of one mask shared by the whole batch.
        chunk_size: per-example only: examples processed at once, so at most
            ``chunk_size * out * in`` mask entries exist at a time, in the forward and in the
            backward pass (autograd keeps no mask: the backward pass redraws them, see
            :class:`PerExampleDropConnect`). Default :func:`default_chunk_size`: about 4M
            entries (16 MiB in float32), or one example if a single mask is larger.
        generator: source of randomness. Same state (and same ``chunk_size``) -> same output.
            Per-example with ``None``: the default generator of ``x``'s device (CPU or CUDA),
            whose state is saved so that the backward pass can replay the draws.

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> dropconnect_linear(torch.randn(8, 5, generator=g), torch.randn(3, 5, generator=g), None, 0.5,
        ...                    per_example=True, generator=g).shape
        torch.Size([8, 3])

    Reference: Wan, Zeiler, Zhang, LeCun & Fergus (2013), "Regularization of neural networks using DropConnect".
    """
    p = check_probability("p", p)
    _check_linear(x, weight, bias)
    check_generator(generator)
    if not isinstance(training, bool):
        raise TypeError(f"training must be a bool, got {training!r}")
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    if not training or p == 0.0:
        return torch.nn.functional.linear(x, weight, bias)
    keep = 1.0 - p
    if not per_example:
        mask = bernoulli_mask(weight.shape, keep, generator=generator, device=x.device, dtype=x.dtype)
        return apply_dropconnect_mask(x, weight, bias, mask, p)
    rows = x.reshape(-1, x.shape[-1])
    chunk = chunk_size or default_chunk_size(*weight.shape)
    out = PerExampleDropConnect.apply(rows, weight, keep, dropout_scale(p), chunk, generator)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


def dropconnect_moments(x: torch.Tensor, weight: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact mean and variance of the masked pre-activation :math:`(M \star W)x/(1-p)` (no bias).

    .. math:: \mathbb{E} = Wx, \qquad \mathrm{Var} = \frac{p}{1-p}\,(W \star W)(x \star x).

    ``p = 1`` raises: the inverted scale :math:`1/(1-p)` is undefined.
    """
    p = check_probability("p", p, allow_one=False)
    _check_linear(x, weight, None)
    mean = torch.nn.functional.linear(x, weight)
    var = torch.nn.functional.linear(x * x, weight * weight) * (p / (1.0 - p))
    return mean, var


def dropconnect_moment_matching(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    p: float,
    activation: Callable[[torch.Tensor], torch.Tensor],
    samples: int,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Wan et al.'s inference: moment-match the pre-activation by a Gaussian, average the activation.

    .. math:: u \sim \mathcal N\!\Bigl(Wx,\ \tfrac{p}{1-p}(W\star W)(x\star x)\Bigr), \qquad
              r \approx \frac1S \sum_{s=1}^S a(u_s + \text{bias}).

    In Wan et al.'s keep-scaled notation (weights :math:`qW`) this is
    :math:`u \sim \mathcal N(qWv, q(1-q)(W\star W)(v\star v))`. The mean and variance are
    exact; the Gaussian shape is a central-limit approximation. Samples are drawn in chunks
    of at most ``DROPCONNECT_CHUNK_ELEMENTS`` numbers and summed, so memory stays bounded
    whatever ``samples`` is.

    Args:
        x: input ``(*, in_features)``.
        weight, bias: as in :func:`dropconnect_linear`.
        p: drop probability in [0, 1).
        activation: the nonlinearity :math:`a`, applied element-wise.
        samples: number :math:`S` of Gaussian samples per output.
        generator: source of randomness.

    Shape:
        Input :math:`(*, H_{in})`, output :math:`(*, H_{out})`.
    """
    mean, var = dropconnect_moments(x, weight, p)
    samples = check_positive_int("samples", samples)
    check_generator(generator)
    if bias is not None:
        _check_linear(x, weight, bias)
        mean = mean + bias
    std = var.sqrt()
    total = torch.zeros_like(mean)
    per_chunk = max(1, DROPCONNECT_CHUNK_ELEMENTS // max(1, mean.numel()))
    for start in range(0, samples, per_chunk):
        count = min(per_chunk, samples - start)
        eps = standard_normal((count, *mean.shape), generator=generator, device=x.device, dtype=x.dtype)
        total += activation(mean + std * eps).sum(0)
    return total / samples
