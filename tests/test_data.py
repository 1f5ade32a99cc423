"""The IDX reader on files written here (valid and malformed), splits, subsets, standardisation."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dropout_theory.data import (
    IdxFormatError,
    Standardizer,
    load_dataset,
    load_mnist,
    read_idx,
    read_mnist,
    stratified_split,
    stratified_subset,
    write_idx,
)


def _idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    # written by hand with struct (big-endian), independently of write_idx
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}i", *dims) + payload


def _write_mnist(directory: Path, n_train: int = 12, n_test: int = 5, gz: bool = False, rows: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, rows), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, rows), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        code = 0x08
        raw = _idx_bytes(code, array.shape, array.tobytes())
        path = directory / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


def test_read_idx_matches_handwritten_bytes(tmp_path: Path) -> None:
    values = np.array([[1, -2, 3], [400, -500, 6]], dtype=np.int32)
    path = tmp_path / "ints.idx"
    path.write_bytes(_idx_bytes(0x0C, (2, 3), values.astype(">i4").tobytes()))
    out = read_idx(path)
    assert out.dtype == np.int32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, values)
    floats = np.array([0.5, -1.25, 3e9], dtype=np.float64)
    (tmp_path / "f.idx").write_bytes(_idx_bytes(0x0E, (3,), floats.astype(">f8").tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), floats)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_idx_round_trip(tmp_path: Path, suffix: str) -> None:
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 3])
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00", "truncated header: 2 bytes"),
        (b"\x00\x01\x08\x01" + struct.pack(">i", 2) + b"ab", "bad magic number 0x00010801"),
        (b"\x00\x00\x07\x01" + struct.pack(">i", 2) + b"ab", "bad magic number 0x00000701"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">i", 2), "truncated header: 8 bytes, the 3 dimensions need 16"),
        (b"\x00\x00\x08\x02" + struct.pack(">2i", 3, 4) + bytes(11), "truncated data: 11 bytes after the header, dims (3, 4) need 12"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", 2) + bytes(3), "1 trailing bytes"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", -2), "negative dimension"),
    ],
    ids=["short-header", "bad-zero-bytes", "bad-dtype", "no-dims", "short-dims", "short-data", "trailing", "negative-dim"],
)
def test_malformed_idx_errors_name_path_and_fault(tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(IdxFormatError, match=re.escape(message)) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_missing_and_non_gzip_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(IdxFormatError, match="x.gz: not a valid gzip file"):
        read_idx(tmp_path / "x.gz")


@pytest.mark.parametrize("gz", [False, True])
def test_read_mnist_from_written_files(tmp_path: Path, gz: bool) -> None:
    arrays = _write_mnist(tmp_path, gz=gz)
    train_x, train_y, test_x, test_y = read_mnist(tmp_path)
    np.testing.assert_array_equal(train_x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_y, arrays["t10k-labels-idx1-ubyte"])
    data = load_mnist(tmp_path)
    assert data.x_train.shape == (12, 16) and data.x_test.shape == (5, 16) and data.num_classes == 10
    # standardised with the TRAINING statistics of pixels scaled to [0, 1]
    raw = torch.as_tensor(arrays["train-images-idx3-ubyte"].reshape(12, -1), dtype=torch.float32) / 255
    expected = (raw - raw.mean(0)) / raw.std(0, unbiased=False).clamp(min=0.1)
    torch.testing.assert_close(data.x_train, expected)


def test_read_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MNIST directory not found"):
        read_mnist(tmp_path / "absent")
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\[.gz\] not found"):
        read_mnist(tmp_path)
    # one label too few
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(0x08, (4,), bytes(4)))
    with pytest.raises(IdxFormatError, match="label/image count mismatch: 4 labels in .*t10k-labels.*, 5 images"):
        read_mnist(tmp_path)
    # images stored as a 2-D array
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(0x08, (5,), bytes(5)))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(0x08, (5, 16), bytes(80)))
    with pytest.raises(IdxFormatError, match=r"wrong dims \(5, 16\)"):
        read_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(0x08, (5, 4, 4), bytes(80)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(0x08, (5,), bytes([1, 2, 3, 4, 12])))
    with pytest.raises(IdxFormatError, match="label 12 outside the digits"):
        read_mnist(tmp_path)


def test_stratified_split_is_deterministic_disjoint_and_balanced() -> None:
    labels = np.repeat(np.arange(4), 25)
    a = stratified_split(labels, 0.2, seed=3)
    b = stratified_split(labels, 0.2, seed=3)
    c = stratified_split(labels, 0.2, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    train, test = a
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    np.testing.assert_array_equal(np.bincount(labels[test]), [5, 5, 5, 5])
    with pytest.raises(ValueError, match="test_fraction must be in"):
        stratified_split(labels, 1.0, 0)


def test_stratified_subset_balanced_nested_and_checked() -> None:
    labels = np.repeat(np.arange(10), 40)
    small = stratified_subset(labels, 30, seed=1)
    assert len(np.unique(small)) == 30
    np.testing.assert_array_equal(np.bincount(labels[small], minlength=10), [3] * 10)
    # a seed fixes one ordering: smaller subsets are contained in larger ones
    assert set(small) <= set(stratified_subset(labels, 200, seed=1))
    np.testing.assert_array_equal(small, stratified_subset(labels, 30, seed=1))
    with pytest.raises(ValueError, match="size must be at most the number of examples"):
        stratified_subset(labels, 401, 0)


def test_standardizer_uses_training_statistics_only() -> None:
    train = torch.tensor([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 5.0]])
    test = torch.tensor([[100.0, 6.0, 0.0]])
    s = Standardizer.fit(train)
    std = train.std(0, unbiased=False)
    torch.testing.assert_close(s.transform(test), torch.tensor([[(100 - 2) / std[0], (6 - 5) / 0.1, (0 - 3) / std[2]]]))
    z = s.transform(train)
    torch.testing.assert_close(z[:, [0, 2]].mean(0), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(z[:, [0, 2]].std(0, unbiased=False), torch.ones(2))
    with pytest.raises(ValueError, match="features"):
        s.transform(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="at least 2 rows"):
        Standardizer.fit(torch.zeros(1, 3))


def test_bundled_data_sets_load_deterministically() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    torch.testing.assert_close(a.x_test, b.x_test, rtol=0, atol=0)
    assert a.x_train.shape == (1438, 64) and a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    mnist = load_dataset("mnist5k")
    assert mnist.x_train.shape == (4000, 784) and mnist.x_test.shape == (1000, 784)
    assert torch.equal(torch.bincount(mnist.y_test), torch.full((10,), 100))
    with pytest.raises(ValueError, match="needs path="):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("cifar")
