"""Measures of the latent space (docs/method.md, section 'Measures of the latent space'), plus
cross-modal retrieval, clustering, alignment and uniformity of the test embeddings."""
from __future__ import annotations

from itertools import combinations, permutations
from typing import Mapping

import numpy as np
import torch
from sklearn.decomposition import PCA

from .receiver.retrieval import cross_modal_recall, unit_rows
from .runtime import stream_seed

# k-means restarts of the clustering scores (fixed, so that summary.json does not change with
# scikit-learn's default)
KMEANS_N_INIT = 10
# pair similarities per block of rows in ``uniformity`` (doubles: 32 MiB)
PAIRS_PER_BLOCK = 1 << 22


def modality_gap(za: torch.Tensor, zb: torch.Tensor) -> float:
    """|| mean(z^a) - mean(z^b) ||_2 over the evaluated set; za, zb: float [N, D] -> a float.

    >>> import torch
    >>> from semcom_sim.blocks import modality_gap
    >>> round(modality_gap(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])), 4)   # sqrt(2)
    1.4142
    """
    return float(torch.linalg.vector_norm(za.mean(0) - zb.mean(0)))


def pairwise_gaps(z: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """{"a-b": gap} for every unordered modality pair, in the order of ``z`` ({modality: [N, D]}).

    >>> import torch
    >>> from semcom_sim.blocks import pairwise_gaps
    >>> z = {"image": torch.tensor([[1.0, 0.0]]), "audio": torch.tensor([[1.0, 0.0]]), "text": torch.tensor([[0.0, 1.0]])}
    >>> {k: round(v, 3) for k, v in pairwise_gaps(z).items()}
    {'image-audio': 0.0, 'image-text': 1.414, 'audio-text': 1.414}
    """
    return {f"{a}-{b}": modality_gap(z[a], z[b]) for a, b in combinations(z, 2)}


def fisher_ratio(z: torch.Tensor, labels: torch.Tensor) -> float:
    """Tr(S_B) / Tr(S_W) over the classes in ``labels``; z: [N, D], labels: [N].

    inf when every class collapses to a point (e.g. one caption per class), 0/0 -> nan.

    >>> import torch
    >>> from semcom_sim.blocks import fisher_ratio
    >>> z = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    >>> fisher_ratio(z, torch.tensor([0, 0, 1, 1]))       # S_B = 100, S_W = 1
    100.0
    """
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
    """Cumulative explained-variance ratio of PCA components (scikit-learn): z [N, D] -> a float64
    numpy array [min(N, D)].

    >>> import torch
    >>> from semcom_sim.blocks import explained_variance
    >>> explained_variance(torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])).round(6).tolist()   # rank 1
    [1.0, 1.0]
    """
    return np.cumsum(PCA().fit(z.double().cpu().numpy()).explained_variance_ratio_)


def components_for(cumvar: np.ndarray, fraction: float) -> int:
    """Fewest principal components whose cumulative explained variance reaches ``fraction``."""
    return int(np.searchsorted(cumvar, fraction - 1e-12) + 1)


def cross_modal_retrieval(z: Mapping[str, torch.Tensor], queries: torch.Tensor | None = None
                          ) -> dict[str, dict[str, float]]:
    """{"a->b": {"r1": R@1, "r5": R@5}} for every ordered modality pair: instance identification
    from modality a's embeddings into modality b's by cosine (``receiver.retrieval``, ties against
    the query); ``queries`` (instance indices): only those query, against every instance; None: all.

    >>> import torch
    >>> from semcom_sim.blocks import cross_modal_retrieval
    >>> e = torch.eye(6)
    >>> cross_modal_retrieval({"image": e, "text": e})["image->text"]["r1"]
    1.0
    """
    return {f"{a}->{b}": cross_modal_recall(z[a], z[b], queries=queries) for a, b in permutations(z, 2)}


def true_pair_cosine(za: torch.Tensor, zb: torch.Tensor) -> float:
    """Mean cosine between the two modalities' embeddings of the same instance; za, zb: [N, D] -> a float.

    >>> import torch
    >>> from semcom_sim.blocks import true_pair_cosine
    >>> true_pair_cosine(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    0.8535533905932737
    """
    return float((unit_rows(za.double()) * unit_rows(zb.double())).sum(-1).mean())


def uniformity(z: torch.Tensor, t: float = 2.0, rows: torch.Tensor | None = None) -> float:
    """log E_{i<j} exp(-t ||u_i - u_j||^2) over all pairs of distinct rows of z [N, D], each row first
    scaled to unit norm u_i (Wang & Isola 2020; on the sphere ||u_i - u_j||^2 = 2 - 2 u_i.u_j). Lower
    is more uniform; rows in blocks so that memory stays bounded for any N.

    ``rows`` (distinct row indices drawn uniformly): the mean over pairs is estimated as the mean,
    over those rows i, of the mean over every j != i (unbiased, O(len(rows) * N)); None: exact.

    >>> import torch
    >>> from semcom_sim.blocks import uniformity
    >>> uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))   # one pair at distance^2 4: log exp(-8)
    -8.0
    """
    u = unit_rows(z.double())
    n = u.shape[0]
    if n < 2:
        return float("nan")
    step = max(1, PAIRS_PER_BLOCK // n)
    total = torch.zeros((), dtype=torch.float64, device=u.device)
    if rows is not None:
        rows = rows.to(u.device)
        for s in range(0, rows.shape[0], step):
            own = rows[s:s + step, None]
            k = torch.exp(-t * (2.0 - 2.0 * (u[own[:, 0]] @ u.T)).clamp_min(0.0))  # [rows, N]
            total += k.scatter_(1, own, 0.0).sum()  # without the pair (i, i)
        return float(torch.log(total / (rows.shape[0] * (n - 1))))
    for s in range(0, n, step):
        d2 = (2.0 - 2.0 * (u[s:s + step] @ u.T)).clamp_min(0.0)  # [rows, N]
        later = torch.arange(n, device=u.device) > torch.arange(s, min(s + step, n), device=u.device)[:, None]
        total += torch.exp(-t * d2)[later].sum()
    return float(torch.log(total / (n * (n - 1) / 2)))


def clustering_scores(z: Mapping[str, torch.Tensor], labels: torch.Tensor, seed: int = 0,
                      rows: torch.Tensor | None = None) -> dict | None:
    """k-means (scikit-learn, k = number of classes in ``labels``, ``KMEANS_N_INIT`` restarts,
    seeded) on the embeddings of all modalities pooled, scored against the class labels (each
    instance's label repeated per modality): {"k", "ari", "nmi", "v_measure"}. None for multi-hot
    labels [N, C], where no single class partitions the instances. ``rows`` (instance indices):
    only those instances are clustered (k-means costs O(N k D) per iteration and restart, with
    k = 100 and N = 60,000 pooled rows minutes on a 2-core CPU); None: all."""
    if labels.dim() != 1:
        return None
    if rows is not None:
        z, labels = {m: v[rows.to(v.device)] for m, v in z.items()}, labels[rows.to(labels.device)]
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    x = torch.cat(list(z.values())).double().cpu().numpy()
    y = labels.repeat(len(z)).cpu().numpy()
    k = int(np.unique(y).size)
    pred = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=stream_seed(seed, "kmeans") % 2 ** 32).fit_predict(x)
    return {"k": k, "ari": float(adjusted_rand_score(y, pred)), "nmi": float(normalized_mutual_info_score(y, pred)),
            "v_measure": float(v_measure_score(y, pred))}


def latent_summary(z: Mapping[str, torch.Tensor], labels: torch.Tensor, seed: int = 0,
                   queries: torch.Tensor | None = None) -> dict:
    """Everything summary.json reports about a set of embeddings (no Fisher ratio and no clustering
    scores for multi-hot labels: None); ``seed`` seeds the k-means of the clustering scores.
    ``queries`` (instance indices, ``receiver.retrieval.query_sample``): the sample that keeps the
    costly measures within bounds as N grows: the cross-modal queries, the rows of the uniformity's
    pairs and the instances k-means clusters; None: all instances.
    z: {modality: float [N, D]}, labels int64 [N] or multi-hot [N, C].

    >>> import torch
    >>> from semcom_sim.blocks import latent_summary
    >>> g = torch.Generator().manual_seed(0)
    >>> z = {m: torch.nn.functional.normalize(torch.randn(20, 8, generator=g), dim=-1) for m in ("image", "text")}
    >>> summary = latent_summary(z, torch.arange(20) % 2)
    >>> summary["gap"].keys(), summary["clustering"]["k"]
    (dict_keys(['image-text']), 2)
    """
    gaps = pairwise_gaps(z)
    pooled = torch.cat(list(z.values()))
    single = labels.dim() == 1
    cumvar = explained_variance(pooled)
    pairs = {f"{a}-{b}": true_pair_cosine(z[a], z[b]) for a, b in combinations(z, 2)}
    return {
        "gap": gaps,
        "gap_mean": float(np.mean(list(gaps.values()))),
        "fisher_ratio": {m: fisher_ratio(v, labels) for m, v in z.items()} if single else None,
        "fisher_ratio_pooled": fisher_ratio(pooled, labels.repeat(len(z))) if single else None,
        "explained_variance_cumulative": [round(float(v), 6) for v in cumvar],
        "components_for_90pct": components_for(cumvar, 0.9),
        "cross_modal_retrieval": cross_modal_retrieval(z, queries),
        "clustering": clustering_scores(z, labels, seed, rows=queries),
        "true_pair_cosine": pairs,
        "true_pair_cosine_mean": float(np.mean(list(pairs.values()))) if pairs else None,
        "uniformity": {m: uniformity(v, rows=queries) for m, v in z.items()},
    }
