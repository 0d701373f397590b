"""Payloads (METHOD.md section 4): M vectors (conventional) or one centroid, cut by RFS."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

SCHEMES = ("conventional", "centroid")


def centroid(z: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """mu_k = (1/M) sum_m z_k^m; [N, D] (not re-normalised: the receiver's heads see the plain mean)."""
    return torch.stack(list(z.values())).mean(0)


def rfs_size(dim: int, keep: float) -> int:
    """T = round(keep * D), at least one coordinate."""
    return max(1, int(round(keep * dim)))


def rfs_indices(dim: int, keep: float, rng: np.random.Generator) -> torch.Tensor:
    """Sorted int64 [T]: the coordinates kept by random feature selection, known to both ends."""
    t = rfs_size(dim, keep)
    return torch.from_numpy(np.sort(rng.choice(dim, size=t, replace=False)).astype(np.int64))


def build_payload(z: Mapping[str, torch.Tensor], scheme: str, idx: torch.Tensor) -> torch.Tensor:
    """[N, V, T] real payload: V = M vectors (conventional) or 1 (centroid), T = len(idx).

    The same index set cuts every vector, so the conventional TTI is exactly M times the centroid's.
    """
    idx = idx.to(next(iter(z.values())).device)
    if scheme == "conventional":
        return torch.stack([v[:, idx] for v in z.values()], dim=1)
    if scheme == "centroid":
        return centroid(z)[:, idx].unsqueeze(1)
    raise ValueError(f"unknown scheme {scheme!r}")
