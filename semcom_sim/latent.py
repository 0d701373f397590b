"""Measures of the latent space (METHOD.md section 3)."""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

import numpy as np
import torch
from sklearn.decomposition import PCA


def modality_gap(za: torch.Tensor, zb: torch.Tensor) -> float:
    """|| mean(z^a) - mean(z^b) ||_2 over the evaluated set; za, zb: [N, D]."""
    return float(torch.linalg.vector_norm(za.mean(0) - zb.mean(0)))


def pairwise_gaps(z: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """{"a-b": gap} for every unordered modality pair, in the order of ``z``."""
    return {f"{a}-{b}": modality_gap(z[a], z[b]) for a, b in combinations(z, 2)}


def fisher_ratio(z: torch.Tensor, labels: torch.Tensor) -> float:
    """Tr(S_B) / Tr(S_W) over the classes in ``labels``; z: [N, D], labels: [N].

    inf when every class collapses to a point (e.g. one caption per class), 0/0 -> nan."""
    z = z.double()
    mu = z.mean(0)
    sb = sw = 0.0
    for c in torch.unique(labels):
        zc = z[labels == c]
        mc = zc.mean(0)
        sb += zc.shape[0] * float((mc - mu).square().sum())
        sw += float((zc - mc).square().sum())
    return sb / sw if sw > 0 else (float("inf") if sb > 0 else float("nan"))


def explained_variance(z: torch.Tensor) -> np.ndarray:
    """Cumulative explained-variance ratio of PCA components, [min(N, D)]."""
    return np.cumsum(PCA().fit(z.double().cpu().numpy()).explained_variance_ratio_)


def components_for(cumvar: np.ndarray, fraction: float) -> int:
    """Fewest principal components whose cumulative explained variance reaches ``fraction``."""
    return int(np.searchsorted(cumvar, fraction - 1e-12) + 1)


def latent_summary(z: Mapping[str, torch.Tensor], labels: torch.Tensor) -> dict:
    """Everything summary.json reports about a set of embeddings (no Fisher ratio for multi-hot labels)."""
    gaps = pairwise_gaps(z)
    pooled = torch.cat(list(z.values()))
    single = labels.dim() == 1
    cumvar = explained_variance(pooled)
    return {
        "gap": gaps,
        "gap_mean": float(np.mean(list(gaps.values()))),
        "fisher_ratio": {m: fisher_ratio(v, labels) for m, v in z.items()} if single else None,
        "fisher_ratio_pooled": fisher_ratio(pooled, labels.repeat(len(z))) if single else None,
        "explained_variance_cumulative": [round(float(v), 6) for v in cumvar],
        "components_for_90pct": components_for(cumvar, 0.9),
    }
