"""Argument checks shared by every op: errors name the argument and the value."""

from __future__ import annotations

import math
import numbers

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_probability(name: str, value: object, *, allow_one: bool = True) -> float:
    """Return ``value`` as a float in [0, 1], or raise naming ``name`` and ``value``.

    Booleans are refused although Python counts them as integers: ``p=True`` is
    almost always a bug (a flag passed in the wrong position).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r} of type {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not allow_one and value == 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_float_tensor(name: str, x: object) -> torch.Tensor:
    """Dropout scales values, so integer and boolean tensors are refused up front."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype ({', '.join(map(str, FLOAT_DTYPES))}), got {x.dtype}")
    return x


def check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator
