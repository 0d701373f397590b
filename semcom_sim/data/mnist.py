"""Reader for MNIST's IDX files (also fits Fashion-MNIST and EMNIST, which share the format).

IDX: a 4-byte magic ``0x00 0x00 <dtype code> <number of dimensions>``, one big-endian uint32 size
per dimension, then the values in C order, big-endian.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_mnist", "split_sizes"]

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed if its name ends in ``.gz``), in native
    byte order. Raises ``ValueError`` on a bad magic number or a size that does not match."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    dtype = np.dtype(_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions announced)")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected} for {dtype.name} {shape}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file {name} (or {name}.gz) not found in {directory}")


def load_mnist(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, H, W] (28x28 for MNIST) and labels int64 [N] of ``split`` ("train": the
    60,000 ``train-*`` files, "test": the 10,000 ``t10k-*`` files), read from ``directory``."""
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    images_path = _find(directory, f"{_PREFIX[split]}-images-idx3-ubyte")
    labels_path = _find(directory, f"{_PREFIX[split]}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} uint8 labels, got {labels.dtype} {labels.shape}")
    return images, labels.astype(np.int64)


def split_sizes(directory: str | Path) -> tuple[int, int]:
    """(train, test) image counts from the label files' IDX headers alone (8 bytes each), so a
    run can be budgeted before the images are read. Raises like ``load_mnist``."""
    sizes = []
    for split in ("train", "test"):
        path = _find(Path(directory), f"{_PREFIX[split]}-labels-idx1-ubyte")
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[:2] != b"\0\0" or head[2] not in _DTYPES or head[3] != 1:
            raise ValueError(f"{path}: not an IDX label file (header {head.hex() or 'missing'})")
        sizes.append(int.from_bytes(head[4:8], "big"))
    return sizes[0], sizes[1]
