import math

import numpy as np
import pytest
import torch

from semcom_sim.latent import components_for, explained_variance, fisher_ratio, modality_gap, pairwise_gaps


def test_gap_of_a_constructed_set():
    # modality a sits around +e1, modality b around +e2 (mean-zero noise in other coordinates)
    n, d = 200, 8
    noise = torch.randn(n, d, generator=torch.Generator().manual_seed(0)) * 0.01
    noise -= noise.mean(0)
    e1, e2 = torch.eye(d)[0], torch.eye(d)[1]
    za, zb = e1 + noise, e2 + noise
    assert abs(modality_gap(za, zb) - 2 ** 0.5) < 1e-5
    gaps = pairwise_gaps({"a": za, "b": zb, "c": za.clone()})
    assert list(gaps) == ["a-b", "a-c", "b-c"]
    assert gaps["a-c"] < 1e-6


def test_fisher_ratio_matches_hand_computation():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    # class means 1 and 11, grand mean 6: S_B = 2*25 + 2*25 = 100; S_W = 4 * 1 = 4
    assert abs(fisher_ratio(z, y) - 25.0) < 1e-9


def test_explained_variance_of_rank_two_data():
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=(100, 2)) @ rng.normal(size=(2, 6)))
    cum = explained_variance(z)
    assert abs(cum[1] - 1.0) < 1e-9
    assert components_for(cum, 0.99) <= 2


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def test_cross_modal_retrieval_of_identical_and_shuffled_modalities():
    from semcom_sim.latent import cross_modal_retrieval

    g = torch.Generator().manual_seed(0)
    z = _unit(torch.randn(200, 16, generator=g))
    shuffled = z[torch.randperm(200, generator=g)]
    got = cross_modal_retrieval({"image": z, "audio": z.clone(), "text": shuffled})
    assert list(got) == ["image->audio", "image->text", "audio->image", "audio->text", "text->image", "text->audio"]
    assert got["image->audio"] == {"r1": 1.0, "r5": 1.0} and got["audio->image"] == {"r1": 1.0, "r5": 1.0}
    for pair in ("image->text", "text->audio"):
        assert got[pair]["r1"] <= got[pair]["r5"] <= 0.05


def test_clustering_of_well_separated_blobs():
    from semcom_sim.latent import clustering_scores

    g = torch.Generator().manual_seed(1)
    centres = 10.0 * torch.eye(8)[:3]
    labels = torch.arange(90) % 3
    z = {m: centres[labels] + 0.1 * torch.randn(90, 8, generator=g) for m in ("a", "b")}
    assert clustering_scores(z, labels) == {"k": 3, "ari": 1.0, "nmi": 1.0, "v_measure": 1.0}


def test_clustering_scores_equal_sklearns_against_noisy_labels():
    """Blobs far apart fix the k-means partition (the blob of each point), so the scores against
    labels that disagree with the blobs on some instances are sklearn's on that partition."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    from semcom_sim.latent import clustering_scores

    g = torch.Generator().manual_seed(2)
    blob = torch.arange(120) % 4
    labels = blob.clone()
    labels[:20] = (labels[:20] + 1) % 4  # 20 of 120 instances labelled with another class
    centres = 20.0 * torch.eye(6)[:4]
    z = {m: centres[blob] + 0.2 * torch.randn(120, 6, generator=g) for m in ("a", "b", "c")}
    got = clustering_scores(z, labels, seed=3)
    y, pred = labels.repeat(3).numpy(), blob.repeat(3).numpy()
    assert got["k"] == 4
    assert got["ari"] == pytest.approx(adjusted_rand_score(y, pred), abs=1e-12)
    assert got["nmi"] == pytest.approx(normalized_mutual_info_score(y, pred), abs=1e-12)
    assert got["v_measure"] == pytest.approx(v_measure_score(y, pred), abs=1e-12)
    assert 0.4 < got["ari"] < 0.9


def test_uniformity_of_a_constructed_set():
    from semcom_sim.latent import uniformity

    # e1, -e1, e2, e3: one pair at squared distance 4, the other five at 2
    z = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    expected = math.log((math.exp(-8.0) + 5 * math.exp(-4.0)) / 6)
    assert uniformity(z) == pytest.approx(expected, abs=1e-12)
    assert uniformity(3.0 * z) == pytest.approx(expected, abs=1e-12)  # rows are put on the sphere first


def test_uniformity_in_blocks_equals_the_pdist_formula(monkeypatch):
    import semcom_sim.latent as latent_module

    x = _unit(torch.randn(101, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64))
    ref = float(torch.pdist(x, p=2).pow(2).mul(-2.0).exp().mean().log())  # Wang & Isola's code
    assert latent_module.uniformity(x) == pytest.approx(ref, abs=1e-12)
    monkeypatch.setattr(latent_module, "PAIRS_PER_BLOCK", 7 * 101)  # blocks of 7 rows
    assert latent_module.uniformity(x) == pytest.approx(ref, abs=1e-12)


def test_true_pair_cosine_and_the_summary_keys():
    from semcom_sim.latent import latent_summary, true_pair_cosine

    n = 40
    e1, e2 = torch.eye(4)[0].repeat(n, 1), torch.eye(4)[1].repeat(n, 1)
    assert true_pair_cosine(e1, e1 + e2) == pytest.approx(2 ** -0.5, abs=1e-12)
    g = torch.Generator().manual_seed(5)
    z = {m: _unit(torch.randn(n, 8, generator=g)) for m in ("image", "text")}
    labels = torch.arange(n) % 4
    s = latent_summary(z, labels)
    assert set(s["cross_modal_retrieval"]) == {"image->text", "text->image"}
    assert s["true_pair_cosine"] == {"image-text": pytest.approx(true_pair_cosine(z["image"], z["text"]))}
    assert s["true_pair_cosine_mean"] == pytest.approx(s["true_pair_cosine"]["image-text"])
    assert set(s["uniformity"]) == {"image", "text"} and s["clustering"]["k"] == 4
    # multi-hot labels: no single class per instance, so no Fisher ratio and no clustering scores
    multi = torch.nn.functional.one_hot(labels, 4).float()
    multi[:, 0] = 1.0
    sm = latent_summary(z, multi)
    assert sm["clustering"] is None and sm["fisher_ratio"] is None
    assert sm["cross_modal_retrieval"] == s["cross_modal_retrieval"] and sm["uniformity"] == s["uniformity"]


def _classes(n=2000, dims=32, seed=21):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    image = torch.randn(10, dims, generator=g)[labels] + 0.8 * torch.randn(n, dims, generator=g)
    z = {"image": _unit(image), "text": _unit(image + 0.8 * torch.randn(n, dims, generator=g))}
    return z, labels


def test_uniformity_over_sampled_rows_estimates_the_exact_one(monkeypatch):
    import semcom_sim.latent as latent_module
    from semcom_sim.latent import uniformity
    from semcom_sim.receiver.retrieval import query_sample

    z, _ = _classes()
    exact = uniformity(z["image"])
    rows = query_sample(2000, 400, np.random.default_rng(0))
    sampled = uniformity(z["image"], rows=rows)
    # the mean over i in rows of the mean over j != i, by hand
    u = _unit(z["image"].double())
    k = torch.exp(-2.0 * (2.0 - 2.0 * u[rows] @ u.T).clamp_min(0.0))
    k[torch.arange(400), rows] = 0.0
    assert sampled == pytest.approx(math.log(float(k.sum(1).mean() / 1999)), abs=1e-12)
    # its standard error from the spread of the row means: well inside three of them
    row_means = k.sum(1) / 1999
    se = float(row_means.std() / row_means.mean()) / math.sqrt(400)
    assert abs(sampled - exact) <= 3 * se and se < 0.01
    assert uniformity(z["image"], rows=torch.arange(2000)) == pytest.approx(exact, abs=1e-12)
    monkeypatch.setattr(latent_module, "PAIRS_PER_BLOCK", 7 * 2000)  # blocks of 7 sampled rows
    assert latent_module.uniformity(z["image"], rows=rows) == pytest.approx(sampled, abs=1e-12)


def test_latent_summary_with_sampled_queries():
    from semcom_sim.latent import latent_summary
    from semcom_sim.receiver.retrieval import query_sample

    z, labels = _classes()
    whole = latent_summary(z, labels)
    queries = query_sample(2000, 400, np.random.default_rng(0))
    sampled = latent_summary(z, labels, queries=queries)
    for pair, got in sampled["cross_modal_retrieval"].items():
        for k, p in whole["cross_modal_retrieval"][pair].items():
            assert abs(got[k] - p) <= 3 * math.sqrt(p * (1 - p) / 400) + 1e-12
    assert 0.5 < whole["cross_modal_retrieval"]["image->text"]["r1"] < 0.95
    assert abs(sampled["uniformity"]["text"] - whole["uniformity"]["text"]) < 0.02
    # k-means clusters the sampled instances only: the scores of those rows, near the whole set's
    from semcom_sim.latent import clustering_scores

    assert sampled["clustering"] == clustering_scores({m: v[queries] for m, v in z.items()}, labels[queries])
    assert all(abs(sampled["clustering"][k] - whole["clustering"][k]) < 0.02 for k in ("ari", "nmi", "v_measure"))
    # the linear measures use every instance
    assert sampled["gap"] == whole["gap"] and sampled["fisher_ratio"] == whole["fisher_ratio"]
