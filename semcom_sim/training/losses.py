"""Losses of METHOD.md sections 2 and 5. All inputs are unit-norm embeddings [B, D]."""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

import torch
import torch.nn.functional as F


def info_nce(za: torch.Tensor, zb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (L(a->b) + L(b->a)) / 2 with cosine similarity and fixed temperature."""
    logits = za @ zb.T / temperature
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def multimodal_info_nce(z: Mapping[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """InfoNCE averaged over all unordered modality pairs."""
    pairs = list(combinations(z.values(), 2))
    return torch.stack([info_nce(a, b, temperature) for a, b in pairs]).mean()


def atp_loss(z: Mapping[str, torch.Tensor], anchor: str) -> torch.Tensor:
    """L_ATP: mean squared distance of every other modality to the anchor, averaged over modalities."""
    za = z[anchor]
    others = [v for m, v in z.items() if m != anchor]
    return torch.stack([(v - za).square().sum(-1).mean() for v in others]).mean()


def cu_loss(z: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """L_CU: log of the mean Gaussian potential between instance centroids (uniformity).

    Centroids are re-normalised first, as in the papers' public code, so L_CU spreads them over
    the sphere rather than rewarding a shrinking norm.
    """
    c = F.normalize(torch.stack(list(z.values())).mean(0), dim=-1)
    b = c.shape[0]
    sq = torch.cdist(c, c).square()
    off = ~torch.eye(b, dtype=torch.bool, device=c.device)
    return torch.log(torch.exp(-2.0 * sq[off]).sum() / b)


def total_loss(z: Mapping[str, torch.Tensor], temperature: float, gap_weight: float = 0.0,
               anchor: str | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L_CL + lambda (L_ATP + L_CU); returns the loss and its parts for logging."""
    cl = multimodal_info_nce(z, temperature)
    parts = {"infonce": float(cl.detach())}
    if gap_weight > 0.0:
        atp, cu = atp_loss(z, anchor), cu_loss(z)
        parts.update(atp=float(atp.detach()), cu=float(cu.detach()))
        return cl + gap_weight * (atp + cu), parts
    return cl, parts
