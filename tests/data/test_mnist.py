"""IDX reader and MNIST loader on small IDX files written here (plain and gzip)."""
import gzip
import struct

import numpy as np
import pytest

from semcom_sim.data.mnist import load_mnist, read_idx

CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write(path, a: np.ndarray, *, gz: bool = False):
    data = idx_bytes(a)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), np.array([5, 0, 4, 1, 9, 2, 1], np.uint8))
    test = (rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([7, 2, 1], np.uint8))
    write(tmp_path / "train-images-idx3-ubyte", train[0])
    write(tmp_path / "train-labels-idx1-ubyte", train[1])
    write(tmp_path / "t10k-images-idx3-ubyte.gz", test[0], gz=True)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", test[1], gz=True)
    return tmp_path, train, test


def test_load_plain_train_split(mnist_dir):
    directory, (images, labels), _ = mnist_dir
    x, y = load_mnist(directory, "train")
    assert x.shape == (7, 28, 28) and x.dtype == np.uint8
    assert np.array_equal(x, images)
    assert y.dtype == np.int64 and y.tolist() == [5, 0, 4, 1, 9, 2, 1]


def test_load_gzip_test_split(mnist_dir):
    directory, _, (images, labels) = mnist_dir
    x, y = load_mnist(str(directory), split="test")
    assert x.shape == (3, 28, 28)
    assert np.array_equal(x, images)
    assert y.tolist() == [7, 2, 1]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_every_dtype_big_endian(tmp_path, dtype):
    a = (np.arange(24) - (0 if np.dtype(dtype).kind == "u" else 12)).astype(dtype).reshape(2, 3, 4)
    out = read_idx(write(tmp_path / "a.idx", a))
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(dtype)  # native byte order
    assert np.array_equal(out, a)
    assert out.flags.writeable


def test_read_idx_big_endian_layout(tmp_path):
    # 0x0102 stored big-endian is bytes 01 02; little-endian misreading would give 513
    path = tmp_path / "b.idx"
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE]))
    assert read_idx(path).tolist() == [258, -2]


@pytest.mark.parametrize("header", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00"])
def test_corrupt_magic_raises(tmp_path, header):
    path = tmp_path / "bad"
    path.write_bytes(header + b"\x00\x00\x00\x02\x05\x06")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_size_mismatch_raises(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(idx_bytes(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(ValueError, match="17 bytes, expected 18"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_missing_file_is_named(mnist_dir):
    directory, _, _ = mnist_dir
    (directory / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(directory, "train")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist(directory / "absent", "test")
    with pytest.raises(ValueError, match="split"):
        load_mnist(directory, "validation")


def test_label_count_must_match(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    write(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="expected 4 uint8 labels"):
        load_mnist(tmp_path)
