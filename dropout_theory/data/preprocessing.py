"""Deterministic stratified splits, subsampling, and standardisation fitted on the training set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dropout_theory.validation import check_positive_int


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with the same class proportions, reproducible from ``seed``.

    Each class contributes ``round(test_fraction * count)`` examples to the test part; the
    order within each part is sorted so the split does not depend on numpy's shuffle order
    beyond the choice of members.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = int(round(test_fraction * len(members)))
        test.append(rng.choice(members, size=take, replace=False))
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` examples with (as nearly as possible) equal class shares.

    Used for the data-set-size experiment: the same ``seed`` gives the same subset, and the
    classes stay balanced down to one example per class.
    """
    size = check_positive_int("size", size)
    labels = np.asarray(labels)
    if size > len(labels):
        raise ValueError(f"size must be at most the number of examples ({len(labels)}), got {size}")
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    order = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # deal examples class by class in rounds, so every prefix is as balanced as possible
    dealt = [idx for row in zip(*[np.pad(o, (0, max(map(len, order)) - len(o)), constant_values=-1) for o in order]) for idx in row]
    chosen = [i for i in dealt if i >= 0][:size]
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass(frozen=True)
class Standardizer:
    r"""Per-feature standardisation :math:`x \mapsto (x - \mu)/\max(\sigma, \sigma_{\min})`, fitted on training data.

    The floor :math:`\sigma_{\min}` matters for images: a pixel that is almost always blank
    in the training set (MNIST's border) has a tiny :math:`\sigma`, and a test image that
    inks it would be blown up by :math:`1/\sigma`. With pixels scaled to [0, 1] a floor of
    0.1 bounds every standardised value by 10 in magnitude.

    Example:
        >>> s = Standardizer.fit(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        >>> s.transform(torch.tensor([[2.0, 1.5]]))
        tensor([[1., 5.]])
    """

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, min_std: float = 0.1) -> Standardizer:
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"x must be a 2-D tensor with at least 2 rows, got shape {tuple(x.shape)}")
        if not min_std > 0:
            raise ValueError(f"min_std must be > 0, got {min_std}")
        return cls(x.mean(0), x.std(0, unbiased=False).clamp(min=min_std))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"x has {x.shape[-1]} features, the standardizer was fitted on {self.mean.shape[0]}")
        return (x - self.mean.to(x)) / self.std.to(x)
