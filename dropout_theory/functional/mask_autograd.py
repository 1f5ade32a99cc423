"""Autograd functions behind :func:`~dropout_theory.functional.dropout`.

Two ways to remember the mask between the forward and the backward pass:

* :class:`StoredMaskDropout` keeps the keep-mask as a ``bool`` tensor, one byte per element
  (torch's CPU dropout keeps a float factor: four bytes per float32 element);
* :class:`RegeneratedMaskDropout` keeps only the state of the generator that drew the mask
  (a few bytes on CUDA, about 5 kB for the CPU Mersenne twister, whatever the tensor size)
  and draws the same mask again in the backward pass.

Both compute :math:`y = (x \\odot m)\\,s` with :math:`s = 1/(1-p)` (inverted) or :math:`s = 1`
in one pass (``addcmul``), applying the Python scalar in torch's "opmath" precision and
rounding once, so that the result equals torch's own ``x * s`` on the kept elements in every
floating dtype.
"""

from __future__ import annotations

from typing import Any

import torch

from dropout_theory.functional.masks import keep_mask


def _masked_scale(x: torch.Tensor, mask: torch.Tensor, scale: float, *, inplace: bool = False) -> torch.Tensor:
    if inplace:
        x.mul_(mask)
        return x if scale == 1.0 else x.mul_(scale)
    if scale == 1.0:
        return x * mask
    # One pass instead of two: 0 + scale * x * mask. The scalar is applied in torch's
    # "opmath" precision and the result rounded once, exactly as in ``x * scale``; the
    # 0/1 mask factor is exact. (A kept -0.0 becomes +0.0, the only difference.)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.addcmul(zero, x, mask, value=scale)


class StoredMaskDropout(torch.autograd.Function):
    """``y = x * mask * scale``; saves the ``bool`` mask for the backward pass."""

    @staticmethod
    def forward(x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        return _masked_scale(x, mask, scale)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        _, mask, scale = inputs
        ctx.save_for_backward(mask)
        ctx.scale = scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        # Written with differentiable ops on ``grad``, so double backward works too.
        return _masked_scale(grad, mask, ctx.scale), None, None


def default_generator(device: torch.device) -> torch.Generator:
    """The generator ``torch.rand(..., device=device)`` uses when given none."""
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    raise ValueError(
        f"generator=None on device type {device.type!r}: an op that redraws its random numbers in the "
        "backward pass (low_memory dropout, per-example DropConnect) needs an explicit generator there"
    )


def replay_generator(device: torch.device, state: torch.Tensor) -> torch.Generator:
    """A private generator on ``device`` set to ``state``: replaying never advances the caller's."""
    generator = torch.Generator(device=device)
    generator.set_state(state)
    return generator


class RegeneratedMaskDropout(torch.autograd.Function):
    """Dropout that saves the generator state, not the mask, and redraws the mask in backward.

    Same generator state -> same uniforms -> same mask, so the gradient equals the stored-mask
    gradient bit for bit, while the memory kept for backward no longer grows with the input.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        keep: float,
        scale: float,
        generator: torch.Generator | None,
        inplace: bool,
    ) -> torch.Tensor:
        source = generator if generator is not None else default_generator(x.device)
        ctx.generator_device = source.device
        ctx.state = source.get_state()
        ctx.shape, ctx.keep, ctx.scale, ctx.device = x.shape, keep, scale, x.device
        mask = keep_mask(x.shape, keep, generator=source, device=x.device)
        if inplace:
            ctx.mark_dirty(x)
        return _masked_scale(x, mask, scale, inplace=inplace)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        replay = replay_generator(ctx.generator_device, ctx.state)
        mask = keep_mask(ctx.shape, ctx.keep, generator=replay, device=ctx.device)
        return _masked_scale(grad, mask, ctx.scale), None, None, None, None


def stored_mask_dropout(
    x: torch.Tensor, keep: float, scale: float, *, generator: torch.Generator | None, inplace: bool
) -> torch.Tensor:
    """Draw a ``bool`` keep-mask and apply it; autograd keeps the one-byte mask."""
    mask = keep_mask(x.shape, keep, generator=generator, device=x.device)
    if inplace:
        # Plain in-place ops: autograd records them (saving the bool mask) like any mul_.
        return _masked_scale(x, mask, scale, inplace=True)
    return StoredMaskDropout.apply(x, mask, scale)


def regenerated_mask_dropout(
    x: torch.Tensor, keep: float, scale: float, *, generator: torch.Generator | None, inplace: bool
) -> torch.Tensor:
    """Apply a fresh keep-mask and keep only the generator state for the backward pass."""
    return RegeneratedMaskDropout.apply(x, keep, scale, generator, inplace)


__all__ = [
    "RegeneratedMaskDropout",
    "StoredMaskDropout",
    "regenerated_mask_dropout",
    "stored_mask_dropout",
]
