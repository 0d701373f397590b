import torch

from semcom_sim.config import Scenario
from semcom_sim.errors import TrainingDiverged
from semcom_sim.latent import latent_summary
from semcom_sim.pipeline import load_data
from semcom_sim.runtime import Runtime
from semcom_sim.training import embed, train_or_load


def _setup(raw, cache_dir, **training):
    raw["training"].update(training)
    sc = Scenario.model_validate(raw)
    rt = Runtime.create("cpu", "float32", sc.seed)
    train, test = load_data(sc, rt, cache_dir)
    return sc, rt, train, test


def test_training_lowers_the_loss_and_caches_weights(tiny_raw, tmp_path, cache_dir):
    sc, rt, train, test = _setup(tiny_raw, cache_dir)
    enc_cache = tmp_path / "enc"
    first = train_or_load(sc, train, rt, enc_cache)
    assert not first.cached
    losses = [h["infonce"] for h in first.history]
    assert losses[-1] < 0.8 * losses[0]
    # InfoNCE of random embeddings is about log(batch); training must get well below it
    assert losses[-1] < 0.8 * torch.log(torch.tensor(64.0))
    second = train_or_load(sc, train, rt, enc_cache)
    assert second.cached and second.history == first.history
    z1, z2 = embed(first.encoders, test), embed(second.encoders, test)
    assert all(torch.equal(z1[m], z2[m]) for m in z1)
    assert all(torch.allclose(v.norm(dim=-1), torch.ones(len(test)), atol=1e-5) for v in z1.values())


def test_higher_temperature_gives_a_smaller_gap(tiny_raw, tmp_path, cache_dir):
    gaps = {}
    for tau in (0.01, 0.4):
        raw = {**tiny_raw, "training": dict(tiny_raw["training"])}
        sc, rt, train, test = _setup(raw, cache_dir, temperature=tau)
        trained = train_or_load(sc, train, rt, tmp_path / "enc")
        gaps[tau] = latent_summary(embed(trained.encoders, test), test.labels)["gap_mean"]
    assert gaps[0.4] < 0.6 * gaps[0.01], gaps


def test_gap_loss_closes_the_gap_at_low_temperature(tiny_raw, tmp_path, cache_dir):
    gaps = {}
    for enabled in (False, True):
        raw = {**tiny_raw, "training": dict(tiny_raw["training"])}
        sc, rt, train, test = _setup(raw, cache_dir, temperature=0.07,
                                     gap_loss={"enabled": enabled, "weight": 1.0, "anchor": "image"})
        trained = train_or_load(sc, train, rt, tmp_path / "enc")
        gaps[enabled] = latent_summary(embed(trained.encoders, test), test.labels)["gap_mean"]
        if enabled:
            assert {"atp", "cu"} <= set(trained.history[-1])
    assert gaps[True] < 0.6 * gaps[False], gaps


def test_nan_loss_stops_training_with_a_message(tiny_raw, tmp_path, cache_dir, monkeypatch):
    import pytest

    from semcom_sim.training import trainer

    sc, rt, train, _ = _setup(tiny_raw, cache_dir)
    monkeypatch.setattr(trainer, "total_loss", lambda z, *a, **k: (sum(v.sum() for v in z.values()) * float("nan"), {}))
    with pytest.raises(TrainingDiverged, match="diverged: loss is nan at epoch 1"):
        train_or_load(sc, train, rt, tmp_path / "enc")
    assert not list((tmp_path / "enc").glob("**/*.pt"))
