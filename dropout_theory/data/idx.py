"""Read and write IDX files, the format of the MNIST distribution (LeCun, Cortes & Burges).

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <number of dimensions>``,
then one big-endian ``int32`` per dimension, then the data in row-major order, big-endian.
Every way a file can be wrong raises :class:`IdxFormatError` naming the path and the fault.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# dtype code -> big-endian numpy dtype (from the format's description on the MNIST page)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}


class IdxFormatError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong."""


def _open_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    if not path.is_file():
        raise IdxFormatError(f"{path}: not a regular file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise IdxFormatError(f"{path}: not a valid gzip file ({err})") from err
    return raw


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file; ``source`` names it in error messages."""
    if len(raw) < 4:
        raise IdxFormatError(f"{source}: truncated header: {len(raw)} bytes, need at least 4")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise IdxFormatError(
            f"{source}: bad magic number 0x{raw[:4].hex()}: expected 0x0000 then a dtype code "
            f"({', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}) and the number of dimensions"
        )
    if ndim == 0:
        raise IdxFormatError(f"{source}: bad magic number 0x{raw[:4].hex()}: zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{source}: truncated header: {len(raw)} bytes, the {ndim} dimensions need {header}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in dims):
        raise IdxFormatError(f"{source}: negative dimension in {dims}")
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise IdxFormatError(f"{source}: truncated data: {actual} bytes after the header, dims {dims} need {expected}")
    if actual > expected:
        raise IdxFormatError(f"{source}: {actual - expected} trailing bytes after the data of dims {dims}")
    data = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims, dtype=np.int64)), offset=header)
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` compressed or not) into a native-endian numpy array.

    Args:
        path: the file.

    Raises:
        FileNotFoundError: no such file.
        IdxFormatError: bad magic number, truncated header or data, trailing bytes.

    Example:
        >>> images = read_idx("mnist/train-images-idx3-ubyte")  # doctest: +SKIP
        >>> images.shape
        (60000, 28, 28)
    """
    path = Path(path)
    return parse_idx(_open_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"array dtype {array.dtype} has no IDX code; use one of {sorted(str(d) for d in _CODES)}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    code = _CODES[native]
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">i4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    )
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path
