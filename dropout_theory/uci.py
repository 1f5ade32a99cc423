"""The Boston housing data (UCI), as bundled with ``mlxtend``, and the random train/test splits
of the UCI regression protocol (Hernández-Lobato & Adams 2015; Gal & Ghahramani 2016).

The data set is contested: its feature ``B`` is :math:`1000(B_k - 0.63)^2` with :math:`B_k`
the proportion of Black residents by town, built into a hedonic price model by Harrison &
Rubinfeld (1978) on the assumption of racial self-segregation. scikit-learn removed its
loader in version 1.2 for that reason. It stays here only to reproduce a published table.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOSTON_FEATURES = ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT")


def load_boston() -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: 506 x 13 features (:data:`BOSTON_FEATURES`) and the median value in $1000s.

    Read from the CSV file bundled with ``mlxtend`` (no download). The file is located
    without importing ``mlxtend``, whose import pulls in pandas and takes seconds.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the Boston housing data is read from the copy bundled with mlxtend: pip install mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "boston_housing.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from this mlxtend installation")
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    if table.shape != (506, 14):
        raise ValueError(f"{path} has shape {table.shape}, expected (506, 14)")
    return table[:, :13], table[:, 13]


@dataclass(frozen=True)
class Split:
    """Indices of one random split: ``train`` (fit), ``validation`` (choose p and tau), ``test``."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def random_split(n: int, seed: int, *, test_fraction: float = 0.1, validation_fraction: float = 0.2) -> Split:
    """A seeded random permutation: the last ``test_fraction`` is the test set, and of the rest
    the last ``validation_fraction`` validates (as Gal's ``experiment.py`` does)."""
    if not 0 < test_fraction < 1 or not 0 < validation_fraction < 1:
        raise ValueError(f"fractions must be in (0, 1), got {test_fraction}, {validation_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    rest, test = order[: n - n_test], order[n - n_test :]
    n_fit = int(len(rest) * (1 - validation_fraction))
    return Split(train=rest[:n_fit], validation=rest[n_fit:], test=test)


@dataclass(frozen=True)
class Standardiser:
    """Centre and scale with statistics of the training part (a zero spread is left at 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardiser:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std == 0, 1.0, std))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean
