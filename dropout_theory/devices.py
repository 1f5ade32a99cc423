"""Where tensors go by default: CUDA when present, overridable by ``DROPOUT_THEORY_DEVICE``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ENV_VAR = "DROPOUT_THEORY_DEVICE"


def default_device() -> torch.device:
    """The device examples, chapters and the CLI use unless told otherwise.

    ``DROPOUT_THEORY_DEVICE=cpu`` forces the CPU on a CUDA machine; an unavailable device
    named there is an error rather than a silent fallback.
    """
    name = os.environ.get(ENV_VAR)
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{ENV_VAR}={name!r} but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seeded_generator(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """A fresh generator on ``device`` (default: torch's current default device)."""
    device = torch.device(device) if device is not None else torch.get_default_device()
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run torch with ``threads`` intra-op threads, then restore the setting, also on error.

    Tiny networks (the claims' and the UCI experiments') run fastest on one thread: on a
    loaded 2-core machine the thread pool's synchronisation costs 10-100x the arithmetic.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
