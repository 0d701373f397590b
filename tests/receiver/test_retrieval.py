import math

import pytest
import torch

import numpy as np
from conftest import refused

from semcom_sim.receiver.retrieval import (QueryPlan, cross_modal_recall, identification, own_ranks, query_sample,
                                           unit_rows)


def _payloads(n=500, v=3, t=16, seed=0, dtype=torch.float64):
    return torch.randn(n, v, t, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _gallery(p):
    return unit_rows(p.flatten(1))


def test_identical_payloads_are_all_found():
    p = _payloads()
    got = identification(p, _gallery(p))
    assert float(got["r1"]) == 1.0 and float(got["r5"]) == 1.0
    # a positive scale per received instance (e.g. an MMSE gain) changes no cosine ranking
    scale = torch.rand(500, 1, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.1
    assert float(identification(p * scale, _gallery(p))["r1"]) == 1.0


def test_a_random_permutation_is_found_about_once_in_n():
    p = _payloads()
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(2))
    got = identification(p[perm], _gallery(p))
    fixed = int((perm == torch.arange(500)).sum())
    # query i is instance perm[i]'s payload: found at k = 1 exactly where perm[i] = i
    assert float(got["r1"]) == pytest.approx(fixed / 500)
    assert 0.0 <= float(got["r1"]) <= 0.02
    assert float(got["r1"]) <= float(got["r5"]) <= 0.05


def test_ranks_match_a_brute_force_cosine_ranking():
    p = _payloads(n=60, t=4)
    q = p + 0.8 * _payloads(n=60, t=4, seed=3)
    qn, gn = q.flatten(1), p.flatten(1)
    cos = (qn / qn.norm(dim=1, keepdim=True)) @ (gn / gn.norm(dim=1, keepdim=True)).T
    ref = torch.tensor([int((cos[i] >= cos[i, i]).sum()) - 1 for i in range(60)])
    ranks = own_ranks(qn, _gallery(p))
    assert torch.equal(ranks, ref)
    assert 0 < int((ranks == 0).sum()) < 60  # the noise makes some, not all, top-1
    got = identification(q, _gallery(p))
    assert float(got["r1"]) == pytest.approx(float((ref < 1).double().mean()))
    assert float(got["r5"]) == pytest.approx(float((ref < 5).double().mean()))


def test_ties_count_against_the_query():
    p = _payloads(n=50, v=1, t=8)
    p[7] = p[3]  # two instances with identical payloads
    got = identification(p, _gallery(p))
    assert float(got["r1"]) == pytest.approx(48 / 50)  # neither of the twins is top-1 ...
    assert float(got["r5"]) == 1.0  # ... both are within the top 5 (rank 1)
    # a collapsed (all-zero) query ties with every entry: never found, not found everywhere
    zero = torch.zeros_like(p)
    assert float(identification(zero, _gallery(p))["r5"]) == 0.0
    nan = p.clone()
    nan[0, 0, 0] = float("nan")
    assert float(identification(nan, _gallery(p))["r5"]) == pytest.approx(48 / 50 + 1 / 50)


def test_chunked_equals_unchunked_and_slice_by_slice():
    p = _payloads(n=80, v=2, t=6)
    noise = torch.randn(3, 4, 80, 2, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    payload = p + torch.tensor([0.1, 0.5, 1.5], dtype=torch.float64).view(3, 1, 1, 1, 1) * noise
    kept = payload.clone()
    g = _gallery(p)
    whole = identification(payload, g)
    chunked = identification(payload, g, values_per_chunk=5 * 80 * 80)  # chunks of 5, 5 and 2 slices
    assert torch.equal(payload, kept)
    for k in ("r1", "r5"):
        assert whole[k].shape == (3, 4)
        assert torch.equal(whole[k], chunked[k])
        ref = torch.stack([identification(s, g)[k] for s in payload.flatten(0, 1)]).reshape(3, 4)
        assert torch.equal(whole[k], ref)
    assert bool((whole["r5"] >= whole["r1"]).all())
    # more noise, fewer instances identified (averaged over the draws)
    r1 = whole["r1"].mean(1)
    assert float(r1[0]) == 1.0 and float(r1[0]) > float(r1[1]) > float(r1[2])


def test_receiver_reports_retrieval_beside_accuracy(monkeypatch):
    import semcom_sim.receiver.retrieval as retrieval_module
    from semcom_sim.receiver import fit_linear_head
    from semcom_sim.receiver.receiver import Receiver

    g = torch.Generator().manual_seed(5)
    labels_train, labels = torch.arange(200) % 4, torch.arange(100) % 4
    p_train, p_test = torch.randn(200, 2, 5, generator=g), torch.randn(100, 2, 5, generator=g)
    head = fit_linear_head(p_train.flatten(1), labels_train, 1.0)
    assert "r1" not in Receiver(head, labels).measure(p_test)  # no gallery, no retrieval
    rx = Receiver(head, labels, gallery=unit_rows(p_test.flatten(1)))
    clean = rx.measure(p_test)
    assert float(clean["r1"]) == 1.0 and float(clean["r5"]) == 1.0 and clean["r1"].shape == ()
    payload = p_test + 0.7 * torch.randn(2, 3, 100, 2, 5, generator=g)
    whole = rx.measure(payload)
    monkeypatch.setattr(retrieval_module, "SIMILARITIES_PER_CHUNK", 100 * 100)  # one slice per chunk
    sliced = rx.measure(payload)
    for k in ("r1", "r5"):
        assert whole[k].shape == (2, 3) and torch.equal(whole[k], sliced[k])
    assert set(whole) >= {"acc_top1", "acc_top5", "r1", "r5"}


def test_cross_modal_recall_of_identical_and_unrelated_embeddings():
    z = torch.randn(300, 16, generator=torch.Generator().manual_seed(6))
    assert cross_modal_recall(z, 3.0 * z) == {"r1": 1.0, "r5": 1.0}  # cosine: the scale does not matter
    got = cross_modal_recall(z, torch.randn(300, 16, generator=torch.Generator().manual_seed(7)))
    assert got["r1"] <= got["r5"] <= 0.05
    chunked = cross_modal_recall(z, z + 0.5 * torch.randn(300, 16, generator=torch.Generator().manual_seed(8)),
                                 values_per_chunk=7 * 300)  # query rows in chunks of 7
    whole = cross_modal_recall(z, z + 0.5 * torch.randn(300, 16, generator=torch.Generator().manual_seed(8)))
    assert chunked == whole and 0.0 < whole["r1"] < 1.0 and not math.isnan(whole["r5"])


def test_query_sample_is_seeded_distinct_sorted_and_none_when_all_query():
    a = query_sample(2000, 400, np.random.default_rng(3))
    assert a.shape == (400,) and torch.equal(a, query_sample(2000, 400, np.random.default_rng(3)))
    assert torch.equal(a, a.unique()) and 0 <= int(a.min()) and int(a.max()) < 2000  # distinct and sorted
    assert not torch.equal(a, query_sample(2000, 400, np.random.default_rng(4)))
    assert query_sample(2000, 2000, np.random.default_rng(3)) is None
    assert query_sample(2000, None, np.random.default_rng(3)) is None


def _noisy_views(n=2000, dims=64, seed=11):
    """Clean payloads [n, 1, dims] of 40 classes and received copies at three noise levels x 4 draws."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(40, dims, generator=g)[torch.arange(n) % 40] + 0.6 * torch.randn(n, dims, generator=g)
    sigma = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1, 1)
    received = clean.view(1, 1, n, dims) + sigma * torch.randn(3, 4, n, dims, generator=g)
    return clean.unsqueeze(1), received.unsqueeze(-2)


def test_sampled_queries_estimate_the_exhaustive_recall_within_three_standard_errors():
    clean, received = _noisy_views()
    g = unit_rows(clean.flatten(1))
    whole = identification(received, g)
    queries = query_sample(2000, 400, np.random.default_rng(0))
    sampled = identification(received, g, queries)
    # exactly the exhaustive per-query hits, averaged over the sample: each query still ranks
    # against the whole gallery
    ranks = own_ranks(received.flatten(-2), g)  # [3, 4, 2000]
    for k in (1, 5):
        assert torch.equal(sampled[f"r{k}"], (ranks[..., queries] < k).float().mean(-1))
    r1 = whole["r1"].mean(1)
    assert float(r1[0]) > 0.9 and 0.05 < float(r1[2]) < 0.5  # the levels span easy to hard
    for k in ("r1", "r5"):
        p, est = whole[k].mean(1).double(), sampled[k].mean(1).double()
        se = (p * (1 - p) / 400).sqrt()  # the bound the docs state (draws only shrink it)
        assert bool(((est - p).abs() <= 3 * se + 1e-9).all()), (k, est, p, se)
    # every instance queries: the very same numbers
    every = identification(received, g, torch.arange(2000))
    assert all(torch.equal(every[k], whole[k]) for k in whole)


def test_sampled_cross_modal_recall_estimates_the_exhaustive_one():
    clean, received = _noisy_views(seed=12)
    za, zb = clean.squeeze(1), received[2, 0].squeeze(-2)
    whole = cross_modal_recall(za, zb)
    queries = query_sample(2000, 400, np.random.default_rng(1))
    sampled = cross_modal_recall(za, zb, queries=queries)
    chunked = cross_modal_recall(za, zb, queries=queries, values_per_chunk=7 * 2000)
    assert sampled == chunked
    for k in ("r1", "r5"):
        p = whole[k]
        assert 0.05 < p < 0.95 and abs(sampled[k] - p) <= 3 * math.sqrt(p * (1 - p) / 400)
    assert cross_modal_recall(za, zb, queries=torch.arange(2000)) == whole


def test_query_plan_spreads_the_pairs_over_the_draws():
    plan = QueryPlan.draw(300, 100, np.random.default_rng(5))
    rows = plan.rows(range(8), 8)  # ceil(100 / 8) = 13 queries per draw
    assert rows.shape == (8, 13) and all(torch.equal(r, r.unique()) for r in rows)  # distinct, sorted
    counts = torch.bincount(rows.flatten(), minlength=300)
    assert int(counts.max()) == 1  # 104 pairs of 300 instances: no instance twice
    assert torch.equal(plan.rows(range(3, 5), 8), rows[3:5])  # a chunk of draws: the same rows
    many = plan.rows(range(40), 40)  # 3 per draw, 120 pairs: consecutive blocks of one permutation
    assert int(torch.bincount(many.flatten(), minlength=300).max()) == 1
    assert plan.rows(range(1), 1).shape == (1, 100)
    assert QueryPlan.draw(300, 600, np.random.default_rng(5)).rows(range(2), 2) is None  # 300 x 2 fit
    assert QueryPlan.draw(300, None, np.random.default_rng(5)).rows(range(8), 8) is None


def test_the_receiver_ranks_only_its_planned_queries():
    from semcom_sim.receiver import fit_linear_head
    from semcom_sim.receiver.receiver import Receiver

    g = torch.Generator().manual_seed(9)
    labels = torch.arange(300) % 4
    p_test = torch.randn(300, 2, 5, generator=g)
    head = fit_linear_head(torch.randn(200, 10, generator=g), torch.arange(200) % 4, 1.0)
    plan = QueryPlan.draw(300, 120, np.random.default_rng(2))
    payload = p_test + 0.7 * torch.randn(2, 3, 300, 2, 5, generator=g)  # [S = 2, draws 3..5 of 6, ...]
    gallery = unit_rows(p_test.flatten(1))
    whole = Receiver(head, labels, gallery=gallery).measure(payload)
    sampled = Receiver(head, labels, gallery=gallery, queries=plan).measure(payload, range(3, 6), 6)
    rows = plan.rows(range(3, 6), 6)  # [3, 20]
    ranks = own_ranks(payload.flatten(-2), gallery)  # [2, 3, 300]
    expect = (ranks.gather(-1, rows.expand(2, 3, 20)) < 1).float().mean(-1)
    assert torch.equal(sampled["r1"], expect)
    assert torch.equal(sampled["acc_top1"], whole["acc_top1"])  # accuracy still over every instance
    assert not torch.equal(sampled["r1"], whole["r1"])
    clean = Receiver(head, labels, gallery=gallery, queries=plan).measure(p_test)  # no draw dimension
    assert float(clean["r1"]) == 1.0


def test_pairs_spread_over_draws_estimate_the_exhaustive_recall_within_three_standard_errors():
    clean, received = _noisy_views(seed=13)  # [3 SNR levels, 4 draws, 2000, 1, 64]
    g = unit_rows(clean.flatten(1))
    whole = identification(received, g)
    rows = QueryPlan.draw(2000, 400, np.random.default_rng(0)).rows(range(4), 4)  # 100 per draw
    sampled = identification(received, g, rows)
    for k in ("r1", "r5"):
        p, est = whole[k].mean(1).double(), sampled[k].mean(1).double()
        se = (p * (1 - p) / 400).sqrt()
        assert bool(((est - p).abs() <= 3 * se + 1e-9).all()), (k, est, p, se)
    chunked = identification(received, g, rows, values_per_chunk=100 * 2000)  # one slice per chunk
    assert all(torch.equal(chunked[k], sampled[k]) for k in sampled)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
def test_bad_retrieval_queries_are_one_line(value, tiny_raw, write_scenario):
    line = refused(["validate", str(write_scenario(tiny_raw)), "--set", f"receiver.retrieval_queries={value}"])
    assert "receiver.retrieval_queries" in line
