"""Training tests on the tiny configuration (scenarios/tiny.yaml, conftest.py TINY).

Every threshold below sits several seed-to-seed standard deviations beyond the worst value measured
over TINY seeds 0-9 (scratch script reusing these calls, OMP_NUM_THREADS=2), under torch 2.14.1 and
2.15.0 alike (both gave bit-identical numbers on CPU), so that neither a reseed nor a dependency's
patch release can flip the result.
"""
import pytest
import torch

from semcom_sim.scenario import Scenario
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
    # 12 epochs rather than TINY's 6: over seeds 0-9 the last/first epoch loss is 0.573 +- 0.006
    # (worst 0.584) and the last loss / log(64) 0.577 +- 0.008 (worst 0.593), so 0.8 is 25+ std
    # away; after 6 epochs they were 0.68 +- 0.03 (worst 0.751) and 0.69 +- 0.04 (worst 0.764),
    # within 1-2 std of 0.8
    sc, rt, train, test = _setup(tiny_raw, cache_dir, epochs=12)
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


def _gap_mean(raw, cache_dir, enc_cache, **training):
    raw = {**raw, "training": dict(raw["training"])}
    sc, rt, train, test = _setup(raw, cache_dir, **training)
    trained = train_or_load(sc, train, rt, enc_cache)
    return latent_summary(embed(trained.encoders, test), test.labels)["gap_mean"], trained


def test_higher_temperature_gives_a_smaller_gap(tiny_raw, tmp_path, cache_dir):
    # 15 epochs rather than TINY's 6: over seeds 0-9 gap(0.4) / gap(0.01) is 0.163 +- 0.034
    # (worst 0.230), so 0.4 is 5 std beyond the worst seed. After 6 epochs the ratio was
    # 0.60 +- 0.12 (worst 0.82): tau = 0.4 had not yet closed its gap, and 4 of 10 seeds failed < 0.6
    gaps = {tau: _gap_mean(tiny_raw, cache_dir, tmp_path / "enc", temperature=tau, epochs=15)[0]
            for tau in (0.01, 0.4)}
    assert gaps[0.4] < 0.4 * gaps[0.01], gaps


@pytest.mark.slow  # 30-epoch trainings over three seeds, with and without the gap loss: a statistical check
def test_gap_loss_closes_the_gap_at_low_temperature(tiny_raw, tmp_path, cache_dir):
    # tau = 0.01, lambda = 3 (recipe paper, anchor image), 30 epochs, the gaps summed over seeds 0-2
    # before the ratio. Per seed, over seeds 0-9 (torch 2.14.1, OMP_NUM_THREADS=1), gap(with) /
    # gap(without) is 0.149 +- 0.056 (worst 0.272, seed 7; gap without 0.77 +- 0.17, with
    # 0.11 +- 0.03); one run on torch 2.15 reported 0.504 (gap with 0.482), far outside that spread,
    # and the thread count changes the trajectory at this tau (seed 0: gap with 0.1057 on one thread,
    # 0.1040 on two). Over three seeds the ratio of summed gaps is 0.142 +- 0.020 (worst 0.176, every
    # run of three consecutive seeds among 0-9), so 0.5 is 16 std beyond its worst; and one failed
    # seed such as that 0.504 run, beside two typical ones, still gives about 0.28.
    # The former setting (tau = 0.07, lambda = 1, 6 epochs) gave 0.60 +- 0.09 (worst 0.76) against a
    # threshold of 0.6, and its effect is transient: trained for 30 epochs, InfoNCE at tau = 0.07
    # closes the gap by itself (seeds 0-3: 0.23 without the gap loss, 0.25 with it), as on the full
    # data (docs/papers.md, "Does the gap close?"). At low temperature a gap persists for L_ATP +
    # L_CU to close.
    gaps = {False: 0.0, True: 0.0}
    for seed in (0, 1, 2):
        for enabled in (False, True):
            gap, trained = _gap_mean({**tiny_raw, "seed": seed}, cache_dir, tmp_path / "enc", temperature=0.01,
                                     epochs=30, gap_loss={"enabled": enabled, "weight": 3.0, "anchor": "image"})
            gaps[enabled] += gap
            if enabled:
                assert {"atp", "cu"} <= set(trained.history[-1])
    assert gaps[True] < 0.5 * gaps[False], gaps


def test_nan_loss_stops_training_with_a_message(tiny_raw, tmp_path, cache_dir, monkeypatch):
    import pytest

    from semcom_sim.training.stages import contrastive

    sc, rt, train, _ = _setup(tiny_raw, cache_dir)
    monkeypatch.setattr(contrastive, "total_loss",
                        lambda z, *a, **k: (sum(v.sum() for v in z.values()) * float("nan"), {}))
    with pytest.raises(TrainingDiverged, match="diverged: loss is nan at epoch 1"):
        train_or_load(sc, train, rt, tmp_path / "enc")
    assert not list((tmp_path / "enc").glob("**/*.pt"))
