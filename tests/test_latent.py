import numpy as np
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
