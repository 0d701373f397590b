import math

import torch
import torch.nn.functional as F

from semcom_sim.training.losses import atp_loss, cu_loss, info_nce, multimodal_info_nce, total_loss


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_info_nce_aligned_pairs_beat_shuffled_pairs():
    za = _unit(64, 32)
    zb = F.normalize(za + 0.05 * _unit(64, 32, seed=1), dim=-1)
    aligned = float(info_nce(za, zb, 0.1))
    shuffled = float(info_nce(za, zb[torch.randperm(64, generator=torch.Generator().manual_seed(2))], 0.1))
    assert aligned < 0.05
    # a random pairing is about as bad as guessing among 64 candidates, or worse
    assert shuffled > 0.8 * math.log(64)


def test_info_nce_is_symmetric_and_matches_cross_entropy_by_hand():
    za, zb = _unit(8, 4), _unit(8, 4, seed=3)
    logits = za @ zb.T / 0.5
    by_hand = 0.5 * (-(logits.log_softmax(1).diag().mean()) - logits.log_softmax(0).diag().mean())
    assert torch.isclose(info_nce(za, zb, 0.5), by_hand, atol=1e-6)
    assert torch.isclose(info_nce(za, zb, 0.5), info_nce(zb, za, 0.5), atol=1e-6)


def test_multimodal_info_nce_averages_the_three_pairs():
    z = {"a": _unit(16, 8), "b": _unit(16, 8, seed=1), "c": _unit(16, 8, seed=2)}
    pairs = [info_nce(z["a"], z["b"], 0.2), info_nce(z["a"], z["c"], 0.2), info_nce(z["b"], z["c"], 0.2)]
    assert torch.isclose(multimodal_info_nce(z, 0.2), torch.stack(pairs).mean())


def test_atp_is_zero_for_identical_modalities_and_positive_otherwise():
    z = _unit(32, 8)
    assert float(atp_loss({"img": z, "aud": z.clone(), "txt": z.clone()}, "img")) == 0.0
    other = _unit(32, 8, seed=5)
    # two unit vectors at random: E||a - b||^2 = 2, averaged over the two non-anchor modalities
    val = float(atp_loss({"img": z, "aud": other, "txt": z}, "img"))
    assert abs(val - 1.0) < 0.3


def test_cu_rewards_spread_centroids():
    spread = _unit(64, 16)
    clustered = F.normalize(torch.ones(64, 16) + 0.05 * spread, dim=-1)
    z_spread = {"a": spread, "b": spread}
    z_clustered = {"a": clustered, "b": clustered}
    assert float(cu_loss(z_spread)) < float(cu_loss(z_clustered)) - 1.0
    # identical centroids: every pair contributes exp(0) = 1, so L_CU = log(B - 1)
    same = F.normalize(torch.ones(10, 4), dim=-1)
    assert abs(float(cu_loss({"a": same, "b": same})) - math.log(9)) < 1e-5


def test_total_loss_adds_weighted_gap_terms():
    z = {"a": _unit(16, 8), "b": _unit(16, 8, seed=1)}
    base, parts = total_loss(z, 0.1)
    full, parts_full = total_loss(z, 0.1, gap_weight=0.5, anchor="a")
    assert set(parts) == {"infonce"}
    expected = base + 0.5 * (atp_loss(z, "a") + cu_loss(z))
    assert torch.isclose(full, expected)
    assert set(parts_full) == {"infonce", "atp", "cu"}
