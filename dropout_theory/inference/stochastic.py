r"""Which modules are dropout, and a context that turns on exactly those, driven by a generator.

Monte Carlo dropout needs the dropout modules of a trained network in *training* mode and
every other module as it is (BatchNorm in particular must keep using its running
statistics). The source's ``MCDropout`` calls ``model.train()``, which flips everything.

A module counts as dropout when

* it is one of torch's own: ``nn.Dropout``, ``nn.Dropout1d/2d/3d``, ``nn.AlphaDropout``,
  ``nn.FeatureAlphaDropout`` (or a subclass of them);
* its class, or a base class, is defined in :mod:`dropout_theory.nn` under one of the names
  in :data:`PACKAGE_DROPOUT_NAMES` (adding a new variant is one name in that set);
* its class sets the marker attribute ``is_dropout_module = True`` (for your own modules).

Randomness. Package modules carry a ``generator`` attribute; it is replaced by the caller's
generator for the duration. torch's modules have none, so their ``forward`` is replaced (on
the instance, for the duration) by the same operation written with this package's mask
sampler, which takes the generator. Everything is restored on exit, also after an exception.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from dropout_theory import functional as F

PACKAGE_DROPOUT_NAMES = frozenset(
    {
        "Dropout",
        "GaussianDropout",
        "AlphaDropout",
        "ChannelDropout",
        "DropConnectLinear",
        "DropBlock2d",
        "DropPath",
        "LockedDropout",
        "VariationalLSTM",
        "ConcreteDropout",
    }
)
"""Class names in :mod:`dropout_theory.nn` that are dropout modules."""

SEQUENCE_DROPOUT_NAMES = frozenset({"LockedDropout", "VariationalLSTM"})
"""Variants whose mask is shared along a sequence axis: copies may be stacked along dim 0
only when the module says its batch axis is dim 0 (``batch_first=True``)."""

TORCH_DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

# SELU's fixed point (Klambauer et al. 2017): alpha' = -lambda * alpha, the value a dropped
# unit is set to by alpha dropout. torch uses the same constant in ATen's Dropout.cpp.
_ALPHA_PRIME = -1.7580993408473766


def is_dropout_module(module: nn.Module) -> bool:
    """Whether Monte Carlo sampling should put ``module`` in training mode."""
    if getattr(type(module), "is_dropout_module", False) is True:
        return True
    if isinstance(module, TORCH_DROPOUT_TYPES):
        return True
    return any(
        base.__module__.startswith("dropout_theory.nn") and base.__name__ in PACKAGE_DROPOUT_NAMES
        for base in type(module).__mro__
    )


def dropout_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` for every dropout module in ``model`` (itself included)."""
    return [(name or "<model>", m) for name, m in model.named_modules() if is_dropout_module(m)]


def batch_stacking_problem(name: str, module: nn.Module) -> str | None:
    """Why stacking Monte Carlo copies along dim 0 would be wrong for ``module``, or None.

    Stacking is right when every row of the stacked batch draws its own mask. It is wrong
    for a mask shared by the whole batch (DropConnect with ``per_example=False``: the T
    copies would share one weight mask) and for a mask shared along dim 0 (time-major
    locked/variational dropout: the copies would extend the sequence).
    """
    if getattr(module, "per_example", True) is False:
        return f"{name} ({type(module).__name__}) draws one mask for the whole batch (per_example=False)"
    if type(module).__name__ in SEQUENCE_DROPOUT_NAMES and getattr(module, "batch_first", False) is not True:
        return f"{name} ({type(module).__name__}) shares its mask along dim 0 (not batch_first)"
    return None


def _channel_mask_shape(x: torch.Tensor, unbatched_dim: int | None) -> tuple[int, ...]:
    # torch's feature dropout: one gate per (sample, channel); an unbatched (C, *) input of
    # Dropout1d/3d has one gate per channel. Dropout2d historically reads 3-D input as (N, C, L).
    if unbatched_dim is not None and x.dim() == unbatched_dim:
        return (x.shape[0],) + (1,) * (x.dim() - 1)
    return tuple(x.shape[:2]) + (1,) * (x.dim() - 2)


def _alpha_affine(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    """Alpha dropout on a given keep-mask: :math:`a(x m + \\alpha'(1-m)) + b` (Klambauer et al.)."""
    if p == 1.0:
        return x * 0.0
    a = 1.0 / math.sqrt((_ALPHA_PRIME**2 * p + 1.0) * (1.0 - p))
    b = -a * _ALPHA_PRIME * p
    mask = mask.to(x.dtype)
    return a * (x * mask + _ALPHA_PRIME * (1.0 - mask)) + b


def _torch_replacement(module: nn.Module, generator: torch.Generator | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The training-mode forward of a torch dropout module, with masks from ``generator``."""
    p = float(module.p)
    q = 1.0 - p

    def mask_for(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        return F.bernoulli_mask(shape, q, generator=generator, device=x.device, dtype=x.dtype)

    if isinstance(module, nn.FeatureAlphaDropout):
        return lambda x: _alpha_affine(x, mask_for(x, _channel_mask_shape(x, None)), p)
    if isinstance(module, nn.AlphaDropout):
        return lambda x: _alpha_affine(x, mask_for(x, tuple(x.shape)), p)
    if isinstance(module, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
        unbatched = {nn.Dropout1d: 2, nn.Dropout2d: None, nn.Dropout3d: 4}[
            next(t for t in (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d) if isinstance(module, t))
        ]
        return lambda x: F.apply_dropout_mask(x, mask_for(x, _channel_mask_shape(x, unbatched)), p)
    return lambda x: F.dropout(x, p, True, generator=generator)


def _torch_base(module: nn.Module) -> type[nn.Module] | None:
    """The torch dropout class whose own ``forward`` ``module`` uses, if any.

    A subclass that overrides ``forward`` does something we cannot know, so it is not
    replaced (it then needs a ``generator`` attribute to be driven by a generator).
    """
    for base in TORCH_DROPOUT_TYPES:
        if isinstance(module, base) and type(module).forward is base.forward:
            return base
    return None


@contextlib.contextmanager
def dropout_sampling(model: nn.Module, generator: torch.Generator | None = None) -> Iterator[list[str]]:
    """Within the block, exactly the dropout modules of ``model`` are in training mode.

    Every module's ``training`` flag, every replaced ``generator`` attribute and every
    replaced ``forward`` is restored on exit, whether the block returns or raises.

    Args:
        model: any ``nn.Module``.
        generator: drives the masks of every dropout module; ``None`` keeps each package
            module's own generator and uses torch's global generator for torch's modules.

    Yields:
        The qualified names of the dropout modules switched on.

    Raises:
        ValueError: ``model`` contains no dropout module.
        TypeError: ``generator`` is given but a dropout module can take none (a custom
            module with neither a ``generator`` attribute nor torch's own ``forward``).
    """
    found = dropout_modules(model)
    if not found:
        raise ValueError(
            f"model {type(model).__name__} contains no dropout module, so every Monte Carlo sample "
            "would be identical and the predictive variance silently zero; recognised modules: torch's "
            f"{', '.join(t.__name__ for t in TORCH_DROPOUT_TYPES)}, dropout_theory.nn's "
            f"{', '.join(sorted(PACKAGE_DROPOUT_NAMES))}, or a class with is_dropout_module = True"
        )
    modes = {m: m.training for m in model.modules()}
    replaced_generators: list[tuple[nn.Module, object]] = []
    patched: list[tuple[nn.Module, bool, object]] = []
    try:
        for name, module in found:
            module.training = True  # this module only: its children keep their mode
            if _torch_base(module) is not None:
                had_own = "forward" in module.__dict__
                patched.append((module, had_own, module.__dict__.get("forward")))
                module.forward = _torch_replacement(module, generator)
            elif hasattr(module, "generator"):
                if generator is not None:
                    replaced_generators.append((module, module.generator))
                    module.generator = generator
            elif generator is not None:
                raise TypeError(
                    f"dropout module {name} ({type(module).__name__}) has no `generator` attribute, so the "
                    "generator passed cannot drive its masks; give the class a `generator` attribute"
                )
        yield [name for name, _ in found]
    finally:
        for module, had_own, original in reversed(patched):
            if had_own:
                module.forward = original
            else:
                del module.forward
        for module, original in reversed(replaced_generators):
            module.generator = original
        for module, mode in modes.items():
            module.training = mode
