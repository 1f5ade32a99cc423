"""The registry of experiments that ``python -m dropout_theory reproduce`` runs.

An experiment module in this package decorates a function ``run(config, store)`` with
:func:`experiment`; it is found automatically. ``run`` skips the units already in
``store`` and ``store.put``s each unit as soon as it is done.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dropout_theory.experiments.store import ResultStore

SCALES = ("smoke", "small", "paper")


@dataclass(frozen=True)
class RunConfig:
    """How to run an experiment.

    Attributes:
        scale: ``smoke`` (seconds, for tests), ``small`` (minutes on 2 CPU cores, what the
            book shows) or ``paper`` (the paper's settings; meant for a GPU).
        seeds: number of seeds (each seed is an independent repetition).
        device: torch device.
        data_path: directory with full MNIST IDX files, for ``paper`` scale.
        progress: show tqdm progress bars.
    """

    scale: str = "small"
    seeds: int = 5
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_path: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    run: Callable[[RunConfig, ResultStore], None] = field(repr=False)
    default_seeds: int = 5


_DEFINED: dict[str, Experiment] = {}
_INFRASTRUCTURE = {"registry", "store"}


def experiment(name: str, *, description: str, default_seeds: int = 5) -> Callable:
    """Register ``run(config, store)`` as the experiment ``name``."""

    def register(run: Callable[[RunConfig, ResultStore], None]) -> Experiment:
        if name in _DEFINED:
            raise ValueError(f"duplicate experiment name {name!r}")
        made = Experiment(name, description, run, default_seeds)
        _DEFINED[name] = made
        return made

    return register


class _Experiments(Mapping[str, Experiment]):
    def _all(self) -> dict[str, Experiment]:
        package = importlib.import_module("dropout_theory.experiments")
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in _INFRASTRUCTURE:
                importlib.import_module(f"dropout_theory.experiments.{module.name}")
        return dict(_DEFINED)

    def __getitem__(self, key: str) -> Experiment:
        found = self._all()
        if key not in found:
            raise KeyError(f"no experiment named {key!r}; known: {', '.join(sorted(found))}")
        return found[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def __len__(self) -> int:
        return len(self._all())


EXPERIMENTS = _Experiments()
