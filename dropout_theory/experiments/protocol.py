"""What every experiment shares: the data of each scale and the resumable loop over units.

A *unit* is one training run (one seed, one setting) identified by a key such as
``"config=dropout/seed=3"``. :func:`run_units` skips the keys already in the store and
``put``s each result the moment it exists, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from dropout_theory.data import DataSplit, load_dataset
from dropout_theory.experiments.registry import RunConfig
from dropout_theory.experiments.store import ResultStore

# MNIST-5k for the book (minutes on 2 CPU cores); digits for the seconds-long smoke runs of
# the tests; full MNIST from the user's IDX files for the paper's scale.
SCALE_DATASETS = {"smoke": "digits", "small": "mnist5k", "paper": "mnist"}


def load_scale_data(config: RunConfig) -> DataSplit:
    """The data set of ``config.scale``; ``paper`` needs ``config.data_path``."""
    name = SCALE_DATASETS[config.scale]
    if name == "mnist" and config.data_path is None:
        raise ValueError(
            "--scale paper trains on full MNIST: pass --data-path DIR with the four IDX files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz allowed)"
        )
    return load_dataset(name, path=config.data_path)


def unit_key(**parts: Any) -> str:
    """``unit_key(config="dropout", seed=3) == "config=dropout/seed=3"`` (order as given)."""
    return "/".join(f"{name}={value}" for name, value in parts.items())


def parse_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("/"))


@dataclass(frozen=True)
class Unit:
    key: str
    compute: Callable[[], Any]


def run_units(store: ResultStore, units: Sequence[Unit], config: RunConfig, description: str) -> None:
    """Compute and store every unit not yet in ``store``, with a progress bar over units."""
    todo = [u for u in units if u.key not in store]
    bar = tqdm(todo, desc=f"{description} ({len(units) - len(todo)}/{len(units)} cached)", disable=not config.progress)
    for unit in bar:
        bar.set_postfix_str(unit.key)
        store.put(unit.key, unit.compute())
