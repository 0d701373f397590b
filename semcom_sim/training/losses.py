"""Losses of docs/method.md, sections 'Contrastive training and the temperature' and
'Closing the gap explicitly'. All inputs are unit-norm embeddings [B, D]."""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

import torch
import torch.nn.functional as F


def info_nce(za: torch.Tensor, zb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (L(a->b) + L(b->a)) / 2 with cosine similarity and fixed temperature;
    za, zb: unit-norm [B, D], row i of each a positive pair -> a scalar tensor, differentiable.

    >>> import torch
    >>> from semcom_sim.blocks import info_nce
    >>> e = torch.eye(4)
    >>> round(float(info_nce(e, e, temperature=1.0)), 4)      # log(1 + 3 / e)
    0.7437
    """
    logits = za @ zb.T / temperature
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def multimodal_info_nce(z: Mapping[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """InfoNCE averaged over all unordered modality pairs of {modality: [B, D]} -> a scalar tensor.

    >>> import torch
    >>> from semcom_sim.blocks import multimodal_info_nce
    >>> e = torch.eye(4)
    >>> round(float(multimodal_info_nce({"image": e, "audio": e, "text": e}, temperature=1.0)), 4)
    0.7437
    """
    pairs = list(combinations(z.values(), 2))
    return torch.stack([info_nce(a, b, temperature) for a, b in pairs]).mean()


def atp_loss(z: Mapping[str, torch.Tensor], anchor: str) -> torch.Tensor:
    """L_ATP: mean squared distance of every other modality to the anchor, averaged over modalities;
    {modality: [B, D]} -> a scalar tensor.

    >>> import torch
    >>> from semcom_sim.blocks import atp_loss
    >>> atp_loss({"image": torch.tensor([[1.0, 0.0]]), "text": torch.tensor([[0.0, 1.0]])}, anchor="image")
    tensor(2.)
    """
    za = z[anchor]
    others = [v for m, v in z.items() if m != anchor]
    return torch.stack([(v - za).square().sum(-1).mean() for v in others]).mean()


def pairwise_alignment_loss(z: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean squared distance of paired embeddings, averaged over every unordered modality pair (for
    M = 2 the same as L_ATP); {modality: [B, D]} -> a scalar tensor.

    >>> import torch
    >>> from semcom_sim.blocks import pairwise_alignment_loss
    >>> pairwise_alignment_loss({"image": torch.tensor([[1.0, 0.0]]), "text": torch.tensor([[0.0, 1.0]])})
    tensor(2.)
    """
    return torch.stack([(a - b).square().sum(-1).mean() for a, b in combinations(z.values(), 2)]).mean()


def alignment_loss(z: Mapping[str, torch.Tensor], anchor: str | None, form: str = "anchor") -> torch.Tensor:
    """The alignment term: ``anchor`` (L_ATP, every modality to the anchor) or ``pairwise``."""
    if form == "anchor":
        return atp_loss(z, anchor)
    if form == "pairwise":
        return pairwise_alignment_loss(z)
    raise ValueError(f"unknown alignment form {form!r} (known: anchor, pairwise)")


def cu_loss(z: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """L_CU: log of the mean Gaussian potential between instance centroids (uniformity).

    Centroids are re-normalised first, as in the papers' public code, so L_CU spreads them over
    the sphere rather than rewarding a shrinking norm. {modality: [B, D]} -> a scalar tensor.

    >>> import torch
    >>> from semcom_sim.blocks import cu_loss
    >>> cu_loss({"image": torch.tensor([[1.0, 0.0], [-1.0, 0.0]])})   # two antipodal centroids
    tensor(-8.)
    """
    c = F.normalize(torch.stack(list(z.values())).mean(0), dim=-1)
    b = c.shape[0]
    sq = torch.cdist(c, c).square()
    off = ~torch.eye(b, dtype=torch.bool, device=c.device)
    return torch.log(torch.exp(-2.0 * sq[off]).sum() / b)


def total_loss(z: Mapping[str, torch.Tensor], temperature: float, gap_weight: float = 0.0,
               anchor: str | None = None, uniformity_weight: float | None = None,
               alignment: str = "anchor") -> tuple[torch.Tensor, dict[str, float]]:
    """L_CL + alpha L_align + beta L_CU; returns the loss and its parts for logging.

    ``gap_weight`` is alpha, ``uniformity_weight`` beta (None: alpha, i.e. the paper's
    lambda (L_ATP + L_CU)); ``alignment`` the form of L_align (see :func:`alignment_loss`).
    z: {modality: unit-norm [B, D]}.

    >>> import torch
    >>> from semcom_sim.blocks import total_loss
    >>> e = torch.eye(4)
    >>> loss, parts = total_loss({"image": e, "text": e}, temperature=1.0, gap_weight=0.5, anchor="image")
    >>> sorted(parts), loss.shape
    (['atp', 'cu', 'infonce'], torch.Size([]))
    """
    cl = multimodal_info_nce(z, temperature)
    parts = {"infonce": float(cl.detach())}
    beta = gap_weight if uniformity_weight is None else uniformity_weight
    if gap_weight > 0.0 or beta > 0.0:
        atp, cu = alignment_loss(z, anchor, alignment), cu_loss(z)
        parts.update(atp=float(atp.detach()), cu=float(cu.detach()))
        if beta == gap_weight:  # the paper's form, kept as it was computed before separate weights
            return cl + gap_weight * (atp + cu), parts
        return cl + gap_weight * atp + beta * cu, parts
    return cl, parts
