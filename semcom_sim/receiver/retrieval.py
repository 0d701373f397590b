"""Retrieval by instance identification: each query is matched by cosine similarity against a
gallery holding one entry per instance, and counts as found at k when its own entry is among the k
most similar.

Tie rule (strict): the rank of a query's own entry is the number of *other* gallery entries whose
similarity is greater than **or equal to** its own, so every tie counts against the query. Two
instances with identical gallery entries therefore cannot both be found at k = 1, and a collapsed
query (all zeros, or any query equally similar to every entry) is found by none: a degenerate
receiver output cannot score well. A query whose own similarity is not a number (NaN) is never
found.
"""
from __future__ import annotations

import torch

# gallery similarities per chunk of query slices (SNR points x draws, each N x N): 32 MiB of
# float32 however many SNR points and draws; on the 2-core CPU the three_modality run's retrieval took
# about half as long with 2^23 as with 2^24 (whose chunks no longer stay in cache) or 2^21
SIMILARITIES_PER_CHUNK = 1 << 23

RETRIEVAL_K = (1, 5)  # results.csv r1, r5


def unit_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm (a zero row stays zero: cosine 0 against everything)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(eps)


def own_ranks(query: torch.Tensor, gallery: torch.Tensor, own: torch.Tensor | None = None) -> torch.Tensor:
    """query [..., n, F], unit-norm gallery [G, F], own [n] (the gallery index of each query row;
    default 0..n-1) -> [..., n] the rank of each query's own entry (0 = top-1, ties against it; see
    the module docstring).

    Only the gallery needs unit norm: a positive scale of the query does not change its ranking."""
    n = query.shape[-2]
    own = torch.arange(n, device=query.device) if own is None else own.to(query.device)
    sim = torch.matmul(query, gallery.T)  # [..., n, G]
    mine = sim.gather(-1, own.expand(*sim.shape[:-1]).unsqueeze(-1))  # [..., n, 1], the same products
    # entries at least as similar, the own entry included (it always ties itself): compared in place
    # (1.0 / 0.0) and summed as floats, exact up to 2^24 entries and twice as fast as a bool tensor's
    # integer sum
    rank = sim.ge_(mine).sum(-1, dtype=torch.float64 if sim.dtype == torch.float64 else torch.float32).long() - 1
    return torch.where(mine.squeeze(-1).isnan(), torch.full_like(rank, gallery.shape[0]), rank)


def recall_at(ranks: torch.Tensor, ks=RETRIEVAL_K, dtype: torch.dtype = torch.float32) -> dict[int, torch.Tensor]:
    """ranks [..., n] -> {k: fraction of the n queries found within the top k, [...]}."""
    return {k: (ranks < k).to(dtype).mean(-1) for k in ks}


def identification(payload: torch.Tensor, gallery: torch.Tensor,
                   values_per_chunk: int | None = None) -> dict[str, torch.Tensor]:
    """Received payload [..., N, V, T] against the unit-norm gallery [N, V*T] of the clean test
    payloads (entry i belongs to instance i) -> {"r1": [...], "r5": [...]}.

    The leading dimensions (SNR points, draws) are cut into chunks of whole slices so that the
    N x N similarities of a chunk stay within ``values_per_chunk`` (default SIMILARITIES_PER_CHUNK)."""
    budget = SIMILARITIES_PER_CHUNK if values_per_chunk is None else values_per_chunk
    lead, n = payload.shape[:-3], payload.shape[-3]
    if gallery.shape[0] != n:
        raise ValueError(f"gallery has {gallery.shape[0]} entries for {n} received instances")
    gallery = gallery.to(payload.device, payload.dtype)
    queries = payload.reshape(-1, n, payload.shape[-2] * payload.shape[-1])
    step = max(1, budget // (n * n))
    hits: dict[int, list[torch.Tensor]] = {k: [] for k in RETRIEVAL_K}
    with torch.no_grad():
        for start in range(0, queries.shape[0], step):
            for k, v in recall_at(own_ranks(queries[start:start + step], gallery)).items():
                hits[k].append(v)
    return {f"r{k}": torch.cat(v).reshape(lead) for k, v in hits.items()}


def cross_modal_recall(za: torch.Tensor, zb: torch.Tensor, ks=RETRIEVAL_K,
                       values_per_chunk: int | None = None) -> dict[str, float]:
    """Instance identification from modality a to modality b: each z^a_i queries the gallery of
    every z^b_j by cosine (both sides normalised to unit norm) and is found at k when z^b_i is
    among its k nearest -> {"r1": ..., "r5": ...}. Query rows go in chunks so that the similarities
    of a chunk stay within ``values_per_chunk`` (default SIMILARITIES_PER_CHUNK)."""
    budget = SIMILARITIES_PER_CHUNK if values_per_chunk is None else values_per_chunk
    qa, gb = unit_rows(za.double()), unit_rows(zb.double())
    n = qa.shape[0]
    step = max(1, budget // max(1, gb.shape[0]))
    ranks = torch.cat([own_ranks(qa[s:s + step], gb, torch.arange(s, min(s + step, n)))
                       for s in range(0, n, step)])
    return {f"r{k}": float(v) for k, v in recall_at(ranks, ks, torch.float64).items()}
