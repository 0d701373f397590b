"""The ``.npz`` files of the ``embeddings`` source, read and checked: array headers (shapes and
dtypes, without reading any data) and the values of labels, split and modality arrays.

Files are opened with ``np.load(..., allow_pickle=False)``: nothing in them is ever unpickled. Every
defect is a :class:`~semcom_sim.errors.UserError` naming the file and the array. What the arrays
mean, and when their values are checked, is :mod:`semcom_sim.data.embeddings`.
"""
from __future__ import annotations

import math
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

__all__ = ["LABELS", "SPLIT", "SPLITS", "Header", "open_npz", "read_header", "check_same_layout", "split_values",
           "check_labels", "check_finite", "check_train_covers"]

LABELS, SPLIT = "labels", "split"
SPLITS = ("train", "test")
_SAVEZ_HINT = "write it with numpy.savez(path, image=..., text=..., labels=...)"


@dataclass(frozen=True)
class Header:
    """What the file's array headers say, checked: shapes and dtypes, no values."""

    path: Path
    option: str  # the data.options key that names the file
    role: str | None  # "train" / "test" for train_path / test_path; None for npz_path
    arrays: dict[str, tuple[tuple[int, ...], np.dtype]] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(k for k in self.arrays if k not in (LABELS, SPLIT))

    @property
    def n(self) -> int:
        return self.arrays[LABELS][0][0]

    @property
    def dim(self) -> int:
        return self.arrays[self.modalities[0]][0][1]

    @property
    def multilabel(self) -> bool:
        return len(self.arrays[LABELS][0]) == 2

    def error(self, message: str, array: str | None = None) -> UserError:
        return UserError(message, source=str(self.path), field=array)

    def values(self, npz, name: str) -> np.ndarray:
        """Array ``name`` of the open file; a damaged member (its CRC is checked only once all of it is
        read) is a UserError naming it."""
        try:
            return npz[name]
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise self.error(f"cannot read its values ({reason}): a damaged file", name) from None


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"{dtype} array of shape {list(shape)}"


def open_npz(path: Path, option: str):
    """``np.load(path, allow_pickle=False)`` as an NpzFile; every failure a one-line UserError."""
    src = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError(f"file not found (data.options.{option})", source=src) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", source=src) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"is a folder, not an .npz file (data.options.{option})", source=src)
    try:
        obj = np.load(path, allow_pickle=False)
    except ValueError:  # np.load takes whatever is neither a zip nor a .npy for a pickle
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            what = "a .npy object array (pickled data, never loaded: allow_pickle=False)"
        elif magic[:1] == b"\x80":
            what = "pickled data (never loaded: allow_pickle=False)"
        else:
            what = "not a NumPy file"
        raise UserError(f"{what}, not an .npz archive of arrays; {_SAVEZ_HINT}", source=src) from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read it as an .npz archive ({reason}); {_SAVEZ_HINT}", source=src) from None
    if isinstance(obj, np.ndarray):
        raise UserError(f"a single .npy array, not an .npz archive of named arrays; {_SAVEZ_HINT}", source=src)
    return obj


def _array_header(npz, name: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one member from its .npy header, without reading its data."""
    from numpy.lib import format as npy_format

    member = name + ".npy" if name + ".npy" in npz.zip.namelist() else name
    data_bytes = None  # what the member holds after its header
    try:
        with npz.zip.open(member) as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(f)
            else:  # 3.0 (utf-8 field names): no public header reader, read the array itself
                a = npz[name]
                shape, dtype = a.shape, a.dtype
            if version in ((1, 0), (2, 0)):
                data_bytes = npz.zip.getinfo(member).file_size - f.tell()
    except Exception as e:  # noqa: BLE001  (a broken member, whatever numpy or zipfile says)
        if "Object arrays" in str(e):
            raise UserError("an object array (pickled data, never loaded: allow_pickle=False); store numbers "
                            "or fixed-width strings", source=str(path), field=name) from None
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"not a readable NumPy array ({reason})", source=str(path), field=name) from None
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    # numpy allocates what the header declares before reading: a forged shape of 10^12 rows must not
    # reach it (an object array's size is not its bytes; it is refused by the caller)
    declared = math.prod(shape) * dtype.itemsize
    if data_bytes is not None and not dtype.hasobject and declared != data_bytes:
        raise UserError(f"its header declares {_describe(shape, dtype)} ({declared:,} bytes), but the member holds "
                        f"{data_bytes:,} bytes of data: a damaged or forged file", source=str(path), field=name)
    return shape, dtype


def read_header(path: Path, option: str, role: str | None) -> Header:
    with open_npz(path, option) as npz:
        arrays = {name: _array_header(npz, name, path) for name in npz.files}
    h = Header(path, option, role, arrays)
    for name, (shape, dtype) in arrays.items():
        if dtype.hasobject:
            raise h.error("an object array (pickled data, never loaded: allow_pickle=False); store numbers or "
                          "fixed-width strings (e.g. numpy.array(values, dtype=str))", name)
    if not arrays:
        raise h.error(f"the archive holds no arrays; {_SAVEZ_HINT}")
    if LABELS not in arrays:
        raise h.error(f"no labels array (arrays: {', '.join(arrays)}); every file needs 'labels', [N] integer "
                      "classes or [N, C] multi-hot 0/1", LABELS)
    shape, dtype = arrays[LABELS]
    if len(shape) == 1:
        if dtype.kind not in "iu":
            raise h.error(f"{_describe(shape, dtype)}: [N] labels must be integer classes", LABELS)
    elif len(shape) == 2:
        if dtype.kind not in "iubf":
            raise h.error(f"{_describe(shape, dtype)}: [N, C] multi-hot labels must be numbers 0/1", LABELS)
        if shape[1] < 1:
            raise h.error(f"{_describe(shape, dtype)}: multi-hot labels need at least one class", LABELS)
    else:
        raise h.error(f"{_describe(shape, dtype)}: labels must be [N] integer classes or [N, C] multi-hot 0/1",
                      LABELS)
    n = shape[0]
    if n < 1:
        raise h.error("no rows (labels is empty)", LABELS)
    if SPLIT in arrays:
        shape, dtype = arrays[SPLIT]
        if dtype.kind not in "US" or shape != (n,):
            raise h.error(f"{_describe(shape, dtype)}: split must be [N] = [{n}] strings 'train' / 'test'", SPLIT)
    if not h.modalities:
        raise h.error(f"no modality arrays (arrays: {', '.join(arrays)}); every float [N, D] array besides "
                      "labels and split is one modality")
    first = h.modalities[0]
    for name in h.modalities:
        shape, dtype = arrays[name]
        if dtype.kind != "f":
            raise h.error(f"{_describe(shape, dtype)}: a modality array must be float [N, D] (every array "
                          "besides labels and split is a modality)", name)
        if len(shape) != 2 or shape[1] < 1:
            raise h.error(f"{_describe(shape, dtype)}: a modality array must be [N, D]", name)
        if shape[0] != n:
            raise h.error(f"{shape[0]} rows, but labels has {n}: every array needs one row per instance", name)
        if shape[1] != arrays[first][0][1]:
            raise h.error(f"D = {shape[1]}, but {first} has D = {arrays[first][0][1]}: every modality needs the "
                          "same dimension", name)
    return h


def check_same_layout(train: Header, test: Header) -> None:
    """The test file must hold the train file's modalities, D and kind of labels."""
    missing = [m for m in train.modalities if m not in test.modalities]
    if missing:
        raise test.error(f"no modality array {missing[0]!r}, which the train file {train.path} has", missing[0])
    extra = [m for m in test.modalities if m not in train.modalities]
    if extra:
        raise test.error(f"modality array {extra[0]!r} is not in the train file {train.path}", extra[0])
    if test.dim != train.dim:
        m = test.modalities[0]
        raise test.error(f"D = {test.dim}, but the train file {train.path} has D = {train.dim}", m)
    tr, te = train.arrays[LABELS][0], test.arrays[LABELS][0]
    if len(tr) != len(te) or (len(tr) == 2 and tr[1] != te[1]):
        raise test.error(f"labels of shape {list(te)} do not match the train file's {list(tr)} "
                         f"({train.path})", LABELS)


def split_values(h: Header, npz) -> np.ndarray | None:
    """The file's split array, checked: its values are 'train'/'test' (and, in a train_path /
    test_path file, only that file's own split); None where there is none."""
    if SPLIT not in h.arrays:
        return None
    split = h.values(npz, SPLIT)
    if split.dtype.kind == "S":  # bytes that are not UTF-8 show as U+FFFD in the message on the value
        split = np.char.decode(split, "utf-8", "replace")
    split = np.asarray(split, dtype=str)
    allowed = SPLITS if h.role is None else (h.role,)
    bad = ~np.isin(split, allowed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = "" if h.role is None else f" (the file is data.options.{h.option})"
        raise h.error(f"value {str(split[i])!r} at row {i}: split values must be "
                      f"{' or '.join(repr(s) for s in allowed)}{where}", SPLIT)
    if h.role is None:
        for s in SPLITS:
            if not (split == s).any():
                raise h.error(f"no {s!r} rows: the split needs both 'train' and 'test'", SPLIT)
    return split


def check_labels(h: Header, labels: np.ndarray) -> None:
    """Classes >= 0 ([N] labels) or values 0/1 ([N, C] multi-hot)."""
    if labels.ndim == 1:
        if labels.min() < 0:
            i = int(np.argmin(labels))
            raise h.error(f"value {labels[i]} at row {i}: classes must be >= 0", LABELS)
    else:
        bad = (labels != 0) & (labels != 1)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise h.error(f"value {labels[i, j]} at row {i}, column {j}: multi-hot labels must be 0 or 1", LABELS)


def check_finite(h: Header, name: str, x: np.ndarray) -> None:
    """No NaN or infinite value in modality array ``name``."""
    finite = np.isfinite(x)
    if not finite.all():
        i = int(np.flatnonzero(~finite.all(1))[0])
        raise h.error(f"holds NaN or infinite values (first at row {i})", name)


def check_train_covers(train: np.ndarray, test: np.ndarray, h: Header) -> None:
    """Single-label: every test class must have a training row, or the head cannot score it."""
    missing = np.setdiff1d(test, train)
    if len(missing):
        raise h.error(f"class {missing[0]} has test rows but no training row: the receiver's head cannot "
                      "learn it", LABELS)
