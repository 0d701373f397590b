"""Payloads (docs/method.md, section 'Semantic compression'): a scheme's vectors, cut to T of D
coordinates by RFS."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from .schemes import Scheme


def rfs_size(dim: int, keep: float) -> int:
    """T = round(keep * D), at least one coordinate."""
    return max(1, int(round(keep * dim)))


def rfs_indices(dim: int, keep: float, rng: np.random.Generator) -> torch.Tensor:
    """Sorted int64 [T], T = round(keep * dim): the coordinates kept by random feature selection,
    known to both ends.

    >>> import numpy as np
    >>> from semcom_sim.blocks import rfs_indices
    >>> idx = rfs_indices(64, 0.25, np.random.default_rng(0))
    >>> idx.shape, idx.dtype
    (torch.Size([16]), torch.int64)
    """
    t = rfs_size(dim, keep)
    return torch.from_numpy(np.sort(rng.choice(dim, size=t, replace=False)).astype(np.int64))


def build_payload(z: Mapping[str, torch.Tensor], scheme: Scheme, idx: torch.Tensor) -> torch.Tensor:
    """[N, V, T] real payload of ``scheme`` (see :mod:`.schemes`), T = len(idx)."""
    idx = idx.to(next(iter(z.values())).device)
    return scheme.payload(z, idx)
