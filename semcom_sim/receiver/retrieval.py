"""Retrieval by instance identification: each query is matched by cosine similarity against a
gallery holding one entry per instance, and counts as found at k when its own entry is among the k
most similar.

Tie rule (strict): the rank of a query's own entry is the number of *other* gallery entries whose
similarity is greater than **or equal to** its own, so every tie counts against the query. Two
instances with identical gallery entries therefore cannot both be found at k = 1, and a collapsed
query (all zeros, or any query equally similar to every entry) is found by none: a degenerate
receiver output cannot score well. A query whose own similarity is not a number (NaN) is never
found.

Cost: a query ranks against the whole gallery, so N queries cost O(N^2) per SNR point and draw.
Where the test set times the draws exceeds a budget of Q (query, draw) pairs per SNR point (the
scenario's ``receiver.retrieval_queries``), a :class:`QueryPlan` gives each draw its own seeded
sample of ceil(Q / draws) query instances, consecutive blocks of one seeded permutation so that
every instance queries about equally often over the draws: O(Q * N) per SNR point however many
draws. Each query still ranks against every gallery entry, so r_k keeps its meaning (the fraction of
received payloads whose own entry is within the top k) and is estimated from about Q independent
(query, draw) pairs, with a standard error of at most sqrt(r_k (1 - r_k) / Q) <= 0.5 / sqrt(Q).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .gemm import linear

# gallery similarities per chunk of query slices (SNR points x draws, each N x N): 32 MiB of
# float32 however many SNR points and draws; on the 2-core CPU the three_modality run's retrieval took
# about half as long with 2^23 as with 2^24 (whose chunks no longer stay in cache) or 2^21
SIMILARITIES_PER_CHUNK = 1 << 23

RETRIEVAL_K = (1, 5)  # results.csv r1, r5


def query_sample(n: int, queries: int | None, rng: np.random.Generator) -> torch.Tensor | None:
    """The instances that query: None (all n) where ``queries`` is None or at least n, else
    ``queries`` distinct indices drawn by ``rng`` without replacement, sorted (the gallery's order)."""
    if queries is None or queries >= n:
        return None
    return torch.from_numpy(np.sort(rng.choice(n, size=queries, replace=False)))


@dataclass(frozen=True)
class QueryPlan:
    """Which received instances query the gallery in each draw, within ``pairs`` (query, draw)
    pairs per SNR point (None: every instance in every draw).

    >>> import numpy as np
    >>> plan = QueryPlan.draw(6, 4, np.random.default_rng(0))
    >>> plan.rows(range(2), 2).shape, plan.rows(range(2), 1) is None   # 2 draws x 2 queries; 6 >= 4
    (torch.Size([2, 2]), False)
    >>> QueryPlan.draw(6, 12, np.random.default_rng(0)).rows(range(2), 2) is None   # 6 x 2 <= 12: all
    True
    """

    order: torch.Tensor  # a seeded permutation of the n test instances
    pairs: int | None

    @classmethod
    def draw(cls, n: int, pairs: int | None, rng: np.random.Generator) -> "QueryPlan":
        return cls(torch.from_numpy(rng.permutation(n)), pairs)

    def rows(self, draws: range, total: int) -> torch.Tensor | None:
        """The query instances of ``draws`` out of ``total`` draws per SNR point: int64
        [len(draws), ceil(pairs / total)], each row distinct and sorted (the gallery's order); None
        where every instance of every draw fits in the budget."""
        n = self.order.shape[0]
        if self.pairs is None or n * total <= self.pairs:
            return None
        q = -(-self.pairs // total)  # <= n, as pairs < n * total
        pos = (torch.arange(draws.start, draws.stop)[:, None] * q + torch.arange(q)) % n
        return self.order[pos].sort(-1).values


def unit_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm (a zero row stays zero: cosine 0 against everything)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(eps)


def rank_of(scores: torch.Tensor, own: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """scores [..., G], own int64 [...] (broadcastable: each row's own entry) -> [...] the rank of
    each row's own entry by the module docstring's tie rule: the number of *other* entries scoring
    at least as high (0 = top-1); a row whose own score is NaN ranks past every k (never found,
    even where k exceeds G).

    ``overwrite``: ``scores`` is compared in place (1.0 / 0.0) and summed as floats, exact up to
    2^24 entries and twice as fast as a bool tensor's integer sum; else it is left as it was."""
    mine = scores.gather(-1, own.expand(*scores.shape[:-1]).unsqueeze(-1))  # [..., 1]
    if overwrite:
        above = scores.ge_(mine).sum(-1, dtype=torch.float64 if scores.dtype == torch.float64 else torch.float32).long()
    else:
        above = scores.ge(mine).sum(-1)
    rank = above - 1  # the own entry always ties itself
    return torch.where(mine.squeeze(-1).isnan(), torch.full_like(rank, torch.iinfo(rank.dtype).max), rank)


def own_ranks(query: torch.Tensor, gallery: torch.Tensor, own: torch.Tensor | None = None) -> torch.Tensor:
    """query [..., n, F], unit-norm gallery [G, F], own [n] or [..., n] (the gallery index of each
    query row; default 0..n-1) -> [..., n] the rank of each query's own entry (0 = top-1, ties against it; see
    the module docstring).

    Only the gallery needs unit norm: a positive scale of the query does not change its ranking."""
    n = query.shape[-2]
    own = torch.arange(n, device=query.device) if own is None else own.to(query.device)
    return rank_of(linear(query, gallery), own, overwrite=True)  # [..., n, G] similarities


def recall_at(ranks: torch.Tensor, ks=RETRIEVAL_K, dtype: torch.dtype = torch.float32) -> dict[int, torch.Tensor]:
    """ranks [..., n] -> {k: fraction of the n queries found within the top k, [...]}."""
    return {k: (ranks < k).to(dtype).mean(-1) for k in ks}


def identification(payload: torch.Tensor, gallery: torch.Tensor, queries: torch.Tensor | None = None,
                   values_per_chunk: int | None = None) -> dict[str, torch.Tensor]:
    """Received payload [..., N, V, T] against the unit-norm gallery [N, V*T] of the clean test
    payloads (entry i belongs to instance i) -> {"r1": [...], "r5": [...]}. ``queries``: indices
    into the N instances, only those received instances query, each against the whole gallery:
    [q] the same in every slice (``query_sample``), or [R, q] one row per draw, the payload then
    [..., R, N, V, T] (``QueryPlan.rows``); None: every instance.

    The leading dimensions (SNR points, draws) are cut into chunks of whole slices so that the
    queries x N similarities of a chunk stay within ``values_per_chunk`` (default SIMILARITIES_PER_CHUNK)."""
    budget = SIMILARITIES_PER_CHUNK if values_per_chunk is None else values_per_chunk
    lead, n = payload.shape[:-3], payload.shape[-3]
    if gallery.shape[0] != n:
        raise ValueError(f"gallery has {gallery.shape[0]} entries for {n} received instances")
    gallery = gallery.to(payload.device, payload.dtype)
    own = None
    if queries is not None and queries.dim() == 2:
        if payload.dim() < 4 or payload.shape[-4] != queries.shape[0]:
            raise ValueError(f"{queries.shape[0]} rows of queries for a payload of shape {tuple(payload.shape)}")
        queries = queries.to(payload.device)
        draw = torch.arange(queries.shape[0], device=payload.device)[:, None]
        payload = payload[..., draw, queries, :, :]  # [..., R, q, V, T]
        own = queries.expand(*payload.shape[:-2]).reshape(-1, queries.shape[1])
    elif queries is not None:
        queries = queries.to(payload.device)
        payload = payload.index_select(-3, queries)
    q = payload.shape[-3]
    queries_flat = payload.reshape(-1, q, payload.shape[-2] * payload.shape[-1])
    step = max(1, budget // (q * n))
    hits: dict[int, list[torch.Tensor]] = {k: [] for k in RETRIEVAL_K}
    with torch.no_grad():
        for start in range(0, queries_flat.shape[0], step):
            mine = queries if own is None else own[start:start + step]
            for k, v in recall_at(own_ranks(queries_flat[start:start + step], gallery, mine)).items():
                hits[k].append(v)
    return {f"r{k}": torch.cat(v).reshape(lead) for k, v in hits.items()}


def cross_modal_recall(za: torch.Tensor, zb: torch.Tensor, ks=RETRIEVAL_K, queries: torch.Tensor | None = None,
                       values_per_chunk: int | None = None) -> dict[str, float]:
    """Instance identification from modality a to modality b: each z^a_i queries the gallery of
    every z^b_j by cosine (both sides normalised to unit norm) and is found at k when z^b_i is
    among its k nearest -> {"r1": ..., "r5": ...}. ``queries`` (indices, ``query_sample``): only
    those rows of za query, against all of zb; None: every row. Query rows go in chunks so that
    the similarities of a chunk stay within ``values_per_chunk`` (default SIMILARITIES_PER_CHUNK)."""
    budget = SIMILARITIES_PER_CHUNK if values_per_chunk is None else values_per_chunk
    own = torch.arange(za.shape[0]) if queries is None else queries.cpu()
    qa = unit_rows((za if queries is None else za[queries.to(za.device)]).double())
    gb = unit_rows(zb.double())
    n = qa.shape[0]
    step = max(1, budget // max(1, gb.shape[0]))
    ranks = torch.cat([own_ranks(qa[s:s + step], gb, own[s:s + step]) for s in range(0, n, step)])
    return {f"r{k}": float(v) for k, v in recall_at(ranks, ks, torch.float64).items()}
