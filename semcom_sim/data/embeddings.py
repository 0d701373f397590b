"""The ``embeddings`` source: embeddings made elsewhere (CLIP, ImageBind, CLAP, ...), read from ``.npz`` files.

Bring your own encoders: every float array ``[N, D]`` of the file is one modality, named by the
array (``image``, ``audio``, ``text``, or any name), row i of every array being instance i. Beside
them the file holds ``labels`` (``[N]`` integer classes, at least two, or ``[N, C]`` multi-hot 0/1 for multi-label
data) and optionally ``split`` (``[N]`` strings ``train`` / ``test``). Write one with
``numpy.savez(path, image=..., text=..., labels=..., split=...)``.

Options (``data.options``):

- ``npz_path``: one file holding both splits: its ``split`` array says which rows are test rows;
  without one, ``data.test_fraction`` of the rows are drawn at random (stratified for single-label
  data where every class has two rows, seeded from the run's seed);
- ``train_path`` and ``test_path`` instead: one file per split (``data.test_fraction`` is then
  unused; a ``split`` array in them, if any, must name the file's own split);
- ``normalize`` (default true): scale every row to unit norm on loading.

The options end in ``_path`` so that a relative path is relative to the scenario file, as every
``*_path`` / ``*_dir`` option of a data source. Files are read with ``np.load(...,
allow_pickle=False)``: nothing in them is ever unpickled (the reading and checking of the files is
:mod:`semcom_sim.data.embeddings_npz`).

The modalities are the file's float arrays, so they are known per instance (the ``modalities``
attribute of an instance lists them); on the class, before any file is named, ``modalities``
accepts every name, and a modality that ``data.modalities`` asks for and the file lacks is refused
when its input shape is looked up (``input_shapes()[m]`` raises a ``UserError`` naming the file and
the array). ``raw_sizes`` (TOI) counts D values per modality: the original media are not in the
file, so the embedding is the raw data as far as this simulator can tell.

Every defect of a file is a :class:`~semcom_sim.errors.UserError` naming the file and the array,
found at validation (``semcom-sim validate``): headers always, values (NaN/inf, labels, split) for
files up to ``EAGER_VALUE_CHECK_BYTES``, larger files' modality values when they are loaded. Pair
the source with the ``identity`` encoder (``embedding_dim`` = D): nothing is trained.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from . import SOURCES
from .dataset import MultimodalData
from .embeddings_npz import (LABELS, SPLIT, Header, check_finite, check_labels, check_same_layout,
                             check_train_covers, open_npz, read_header, split_values)
from .source import DataSource

# files up to this size have every value checked at validation; larger ones have their modality
# arrays' values checked when a run loads them (the headers are always checked at once)
EAGER_VALUE_CHECK_BYTES = 256 << 20


class _AnyModality(tuple):
    """The class's ``modalities`` before a file is named: every name is accepted (the file decides)."""

    def __new__(cls) -> "_AnyModality":
        return super().__new__(cls, ())

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)

    def __repr__(self) -> str:
        return "<any: the float arrays of the file>"


class _FileModalities:
    """``EmbeddingsSource.modalities``: the file's float arrays on an instance, any name on the class
    (``checks.check_scenario`` reads it from the class)."""

    def __get__(self, obj: "EmbeddingsSource | None", owner: type | None = None) -> tuple[str, ...]:
        if obj is None:
            return _AnyModality()
        return obj._header().modalities


class _Shapes(dict):
    """``input_shapes()``: looking up a modality the file lacks is a one-line UserError, not a KeyError."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], path: Path):
        super().__init__(shapes)
        self.path = path

    def __missing__(self, key: object):
        raise UserError(f"no modality array {key!r} in the file (its modality arrays: {', '.join(self)})",
                        source=str(self.path), field=str(key))


@SOURCES.register("embeddings")
class EmbeddingsSource(DataSource):
    """Precomputed embeddings in ``.npz`` files (see the module docstring)."""

    modalities = _FileModalities()
    media = False

    def __init__(self, *, npz_path: str | None = None, train_path: str | None = None, test_path: str | None = None,
                 normalize: bool = True):
        if npz_path and (train_path or test_path):
            raise ValueError("give either npz_path (one file with both splits) or train_path and test_path, not both")
        if not npz_path and not (train_path and test_path):
            given = "train_path" if train_path else "test_path" if test_path else None
            raise ValueError(f"{given} needs its partner ({'test_path' if given == 'train_path' else 'train_path'})"
                             if given else "the embeddings source needs npz_path, or train_path and test_path")
        for name, value in (("npz_path", npz_path), ("train_path", train_path), ("test_path", test_path)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}: must be a file path (got {value!r})")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize: must be true or false (got {normalize!r})")
        self.normalize = normalize
        if npz_path:
            self._files = [("npz_path", Path(npz_path).expanduser(), None)]
        else:
            self._files = [("train_path", Path(train_path).expanduser(), "train"),
                           ("test_path", Path(test_path).expanduser(), "test")]
        self._headers: list[Header] | None = None
        self._split: np.ndarray | None = None  # the npz_path file's split array, as "train"/"test" strings
        self._values_checked = False
        self._n_classes: int | None = None  # distinct classes of single-label files, once their labels are read

    # ------------------------------------------------------------------ checks (validation time)

    def _all_headers(self) -> list[Header]:
        if self._headers is None:
            headers = [read_header(path, option, role) for option, path, role in self._files]
            if len(headers) == 2:
                check_same_layout(*headers)
            self._headers = headers
        return self._headers

    def _header(self) -> Header:
        return self._all_headers()[0]

    def _classes(self, labels: list[np.ndarray]) -> np.ndarray:
        """The distinct class values over every file (single-label), checked for the receiver's head."""
        classes = np.unique(np.concatenate(labels))
        if len(classes) < 2:
            h = self._header()
            raise h.error(f"{len(classes)} distinct class: a classifier needs at least 2", LABELS)
        return classes

    def _check_values(self, *, modalities: bool) -> None:
        """Labels and split values (always), modality values (NaN/inf) where ``modalities``."""
        labels: list[np.ndarray] = []
        for h in self._all_headers():
            with open_npz(h.path, h.option) as npz:
                lab = h.values(npz, LABELS)
                check_labels(h, lab)
                labels.append(lab)
                split = split_values(h, npz)
                if h.role is None:
                    self._split = split
                if modalities:
                    for m in h.modalities:
                        check_finite(h, m, h.values(npz, m))
        if labels[0].ndim == 1:
            self._n_classes = len(self._classes(labels))
            if len(labels) == 2:
                check_train_covers(labels[0], labels[1], self._all_headers()[1])
            elif self._split is not None:
                check_train_covers(labels[0][self._split == "train"], labels[0][self._split == "test"],
                                   self._header())

    def _validate(self) -> None:
        if self._values_checked:
            return
        headers = self._all_headers()
        eager = sum(h.path.stat().st_size for h in headers) <= EAGER_VALUE_CHECK_BYTES
        self._check_values(modalities=eager)
        self._values_checked = eager

    # ------------------------------------------------------------------ the source interface

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """(D,) per modality of the file; checks the file (headers, and values of files up to
        EAGER_VALUE_CHECK_BYTES). A modality the file lacks raises a UserError when looked up."""
        self._validate()
        h = self._header()
        return _Shapes({m: (h.dim,) for m in h.modalities}, h.path)

    def _split_sizes(self, test_fraction: float) -> tuple[int, int]:
        headers = self._all_headers()
        if len(headers) == 2:
            return headers[0].n, headers[1].n
        if SPLIT in headers[0].arrays:
            if self._split is None:
                with open_npz(headers[0].path, headers[0].option) as npz:
                    self._split = split_values(headers[0], npz)
            n_te = int((self._split == "test").sum())
            return headers[0].n - n_te, n_te
        n = headers[0].n
        n_te = math.ceil(test_fraction * n)  # train_test_split's rounding
        return n - n_te, n_te

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int]:
        """(train, test) sizes that ``load`` returns, from the headers (and the split array);
        ``semcom_sim.scenario.budget`` budgets a run with them. ``limit`` keeps that many instances in all,
        in the proportion of the split."""
        n_tr, n_te = self._split_sizes(test_fraction)
        if limit and limit < n_tr + n_te:
            t = max(1, round(limit * n_te / (n_tr + n_te)))
            n_tr, n_te = min(limit - t, n_tr), min(t, n_te)
        if self._n_classes is not None and n_tr < self._n_classes:
            random_split = len(self._all_headers()) == 1 and SPLIT not in self._header().arrays
            causes = [f"limit {limit}"] if limit else []
            causes += [f"test_fraction {test_fraction:g}"] if random_split else []
            raise ValueError(f"{' with '.join(causes)} leaves {n_tr} training instances for the file's "
                             f"{self._n_classes} classes: the receiver's head needs a training instance of every class")
        return n_tr, n_te

    def _read(self, h: Header) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
        """The file's modality arrays (checked, float32/float64, normalised if asked), labels, split."""
        with open_npz(h.path, h.option) as npz:
            labels = h.values(npz, LABELS)
            check_labels(h, labels)
            split = split_values(h, npz)
            inputs = {}
            for m in h.modalities:
                x = h.values(npz, m)
                check_finite(h, m, x)
                x = x.astype(np.float32) if x.dtype.itemsize < 4 else x.astype(x.dtype.newbyteorder("="), copy=False)
                if self.normalize:
                    norm = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
                    x = (x / np.maximum(norm, np.finfo(np.float64).tiny)).astype(x.dtype)
                inputs[m] = np.ascontiguousarray(x)
        return inputs, labels, split

    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        """(train, test). ``cache_dir`` is unused: the file is the data."""
        headers = self._all_headers()
        parts = [self._read(h) for h in headers]
        if len(parts) == 2:
            (x_tr, y_tr, _), (x_te, y_te, _) = parts
            inputs = {m: np.concatenate([x_tr[m], x_te[m]]) for m in x_tr}
            labels = np.concatenate([y_tr, y_te])
            is_test = np.arange(len(labels)) >= len(y_tr)
            random_split = False
        else:
            inputs, labels, split = parts[0]
            is_test = None if split is None else split == "test"
            random_split = split is None
        h = headers[0]
        if labels.ndim == 1:
            classes = self._classes([labels])
            y = torch.from_numpy(np.searchsorted(classes, labels).astype(np.int64))
            class_names = tuple(str(c) for c in classes)
        else:
            check_labels(h, labels)
            y = torch.from_numpy(labels.astype(np.float32))
            class_names = tuple(str(j) for j in range(labels.shape[1]))
        if random_split:
            tr, te = _random_split(y.numpy(), test_fraction, seed)
        else:
            tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        n_tr, n_te = self.instance_counts(test_fraction, limit)
        tr = _subset(tr, y.numpy(), n_tr, [seed, 1])
        te = _subset(te, y.numpy(), n_te, [seed, 2])
        if y.dim() == 1:
            check_train_covers(y.numpy()[tr], y.numpy()[te], headers[-1])
        data = MultimodalData(inputs={m: torch.from_numpy(x) for m, x in inputs.items()}, labels=y,
                              class_names=class_names, raw_sizes={m: int(h.dim) for m in inputs})
        return data.subset(tr), data.subset(te)


def _random_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, ``ceil(test_fraction * N)`` test rows, stratified by class for
    single-label data where possible (every class with two rows, every class fitting on both sides)."""
    from sklearn.model_selection import train_test_split  # 0.7 s to import: not at start-up

    n = len(labels)
    n_te = math.ceil(test_fraction * n)
    stratify = None
    if labels.ndim == 1:
        counts = np.bincount(labels)
        if counts.min() >= 2 and min(n_te, n - n_te) >= len(counts):
            stratify = labels
    tr, te = train_test_split(np.arange(n), test_size=test_fraction, random_state=seed % 2**32, stratify=stratify)
    return np.sort(tr), np.sort(te)


def _subset(idx: np.ndarray, labels: np.ndarray, size: int, seed: list[int]) -> np.ndarray:
    """``size`` of the rows ``idx`` (all of them when size >= len(idx)), stratified where possible."""
    if size >= len(idx):
        return idx
    if labels.ndim == 1:
        from sklearn.model_selection import train_test_split

        counts = np.bincount(labels[idx])
        counts = counts[counts > 0]
        if counts.min() >= 2 and min(size, len(idx) - size) >= len(counts):
            keep, _ = train_test_split(idx, train_size=size, random_state=_seed32(seed), stratify=labels[idx])
            return np.sort(keep)
    return np.sort(np.random.default_rng(seed).choice(idx, size=size, replace=False))


def _seed32(seed: list[int]) -> int:
    return int(np.random.default_rng(seed).integers(2**32))
