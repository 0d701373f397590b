"""Pools of real observations (scikit-learn's digits, recordings) and how instances draw from them.

Sources that compose an instance from several pools split each pool on its own, so that no test
instance shares an observation with a training instance.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SKLEARN_DIGITS", "sklearn_digit_split", "stratified_subset", "assign_from_pool"]

SKLEARN_DIGITS = 1797  # instances of sklearn.datasets.load_digits


def sklearn_digit_split(seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as float32 [1797, 8, 8] in [0, 1], their int64 labels, and which ones
    form the test pool (stratified, ``ceil(test_fraction * 1797)`` of them, seeded)."""
    from sklearn.datasets import load_digits  # 0.7 s to import: not at start-up
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target.astype(np.int64)
    _, te = train_test_split(np.arange(len(labels)), test_size=test_fraction, random_state=seed % 2**32,
                             stratify=labels)
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[te] = True
    return digits.images.astype(np.float32) / 16.0, labels, is_test


def stratified_subset(idx: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` of the indices ``idx`` (all of them when size >= len(idx)), sorted, each class in
    proportion where ``train_test_split`` can stratify, else as evenly over the classes as possible."""
    from sklearn.model_selection import train_test_split  # 0.7 s to import: not at start-up

    if size >= len(idx):
        return idx
    classes, counts = np.unique(labels[idx], return_counts=True)
    if counts.min() >= 2 and min(size, len(idx) - size) >= len(classes):
        keep, _ = train_test_split(idx, train_size=size, random_state=seed % 2**32, stratify=labels[idx])
        return np.sort(keep)
    # too few per class for train_test_split (a small pool: test_fraction 0.01): each class's members
    # in a random order, the first of every class taken, then the second, and so on
    order = np.random.default_rng(seed).permutation(idx)
    rank = np.empty(len(order), dtype=np.int64)
    for c in classes:
        mine = labels[order] == c
        rank[mine] = np.arange(mine.sum())
    return np.sort(order[np.argsort(rank, kind="stable")[:size]])


def assign_from_pool(pool_labels: np.ndarray, want: np.ndarray, rng: np.random.Generator,
                     what: str = "audio") -> np.ndarray:
    """For each wanted label, an index into the pool with that label: each class's pool is
    shuffled and walked in order, wrapping around, so its members are used as evenly as possible."""
    out = np.empty(len(want), dtype=np.int64)
    for c in np.unique(want):
        pool = rng.permutation(np.flatnonzero(pool_labels == c))
        if len(pool) == 0:
            raise ValueError(f"the {what} pool has no member of class {c}")
        slots = np.flatnonzero(want == c)
        out[slots] = pool[np.arange(len(slots)) % len(pool)]
    return out
