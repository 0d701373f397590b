"""The reconstruction warm-up before the contrastive stage (training.warmup, CoMa).

Thresholds sit far beyond the spread measured over TINY seeds 0-9 (scratch script reusing
``_warm`` below, torch 2.14.1, OMP_NUM_THREADS=1); each comment gives mean +- std and the worst seed.
"""
import copy
import statistics

import pytest
import torch
from conftest import TINY, refused

from semcom_sim.scenario import Scenario
from semcom_sim.pipeline import load_data
from semcom_sim.receiver.decoders import LogMelMLP
from semcom_sim.runtime import Runtime
from semcom_sim.training import embed, train_or_load
from semcom_sim.training.preparation import build_encoders
from semcom_sim.training.stages import compression, contrastive
from semcom_sim.training.stages.compression import compression_decoders
from semcom_sim.training.trainer import cache_key

DECODERS = {"image": {"name": "image_mlp"}, "audio": {"name": "logmel_mlp"}, "text": {"name": "caption_tokens"}}


def _scenario(raw: dict, **warmup) -> Scenario:
    raw = copy.deepcopy(raw)
    raw["training"]["warmup"] = warmup or None
    return Scenario.model_validate(raw)


def _ridge_error(z_train, y_train, z_test, y_test, l2=1e-3) -> float:
    """Test MSE of a ridge regression from embeddings to targets, over the targets' variance."""
    x, xt = (torch.cat([z, torch.ones(len(z), 1)], 1) for z in (z_train, z_test))
    w = torch.linalg.solve(x.T @ x + l2 * torch.eye(x.shape[1]), x.T @ y_train)
    return float((xt @ w - y_test).square().mean() / (y_test - y_train.mean(0)).square().mean())


def _warm(seed: int, cache_dir, epochs: int = 12):
    """(warm-up history, {modality: ridge error after warm-up / at init}) on TINY at ``seed``."""
    raw = {**copy.deepcopy(TINY), "seed": seed}
    raw["data"]["cache_dir"] = str(cache_dir)
    sc = _scenario(raw, epochs=epochs)
    rt = Runtime.create("cpu", "float32", seed)
    train_data, test = load_data(sc, rt, cache_dir)
    encoders = build_encoders(sc, train_data, rt)
    targets = {"image": [d.inputs["image"].flatten(1) for d in (train_data, test)],
               "audio": [LogMelMLP.target_for(d.inputs["audio"], encoders["audio"]).flatten(1)
                         for d in (train_data, test)]}
    before = (embed(encoders, train_data), embed(encoders, test))
    history = compression.train(encoders, train_data, sc, rt)
    after = (embed(encoders, train_data), embed(encoders, test))

    def err(z, m):
        return _ridge_error(z[0][m], targets[m][0], z[1][m], targets[m][1])

    return history, {m: err(after, m) / err(before, m) for m in targets}


def test_warmup_rebuilds_the_inputs_and_leaves_their_content_in_the_embedding(cache_dir):
    histories, probes = [], []
    for seed in (0, 1, 2):
        history, probe = _warm(seed, cache_dir)
        histories.append(history)
        probes.append(probe)
    for history in histories:
        assert len(history) == 12 and {"rec_image", "rec_audio", "rec_text", "rec", "infonce", "total"} == set(history[0])
        # 12 epochs, seeds 0-9, last / first epoch: L_rec 0.142 +- 0.015 (worst 0.164); image
        # 0.187 +- 0.006 (worst 0.199), audio 0.348 +- 0.008 (worst 0.363), text 0.084 +- 0.020 (worst 0.115)
        assert history[-1]["rec"] < 0.5 * history[0]["rec"], history
        for m in ("image", "audio", "text"):
            assert history[-1][f"rec_{m}"] < 0.8 * history[0][f"rec_{m}"], (m, history)
        # weight 1: the loss is L_rec alone
        assert history[-1]["total"] == history[-1]["rec"]
    # a fresh ridge regression from the embeddings to the pixels and the log-mel (fitted on the
    # training split, scored on the test split) has a lower error after the warm-up than at the
    # initial weights: after / before, mean of the two modalities, 0.770 +- 0.037 per seed over
    # seeds 0-9 (worst 0.815; image 0.741 +- 0.048, audio 0.798 +- 0.040); over three consecutive
    # seeds 0.773 +- 0.016 (worst 0.797), so 0.9 is 8 std above the mean
    mean = statistics.fmean(p[m] for p in probes for m in p)
    assert mean < 0.9, probes


def test_the_weight_blends_in_infonce(tiny_raw, cache_dir):
    sc = _scenario(tiny_raw, epochs=2, weight=0.25)
    rt = Runtime.create("cpu", "float32", 0)
    train_data, _ = load_data(sc, rt, cache_dir)
    history = compression.train(build_encoders(sc, train_data, rt), train_data, sc, rt)
    # the per-step losses combine exactly; epoch means of a linear combination combine alike
    for h in history:
        assert h["total"] == pytest.approx(0.25 * h["rec"] + 0.75 * h["infonce"], rel=1e-5)


def test_an_encoder_without_parameters_is_not_warmed_up(tiny_raw, cache_dir):
    tiny_raw["embedding_dim"] = 64  # the identity encoder passes the 8x8 image through
    tiny_raw["encoders"]["image"] = {"name": "identity"}
    sc = _scenario(tiny_raw, epochs=2)
    rt = Runtime.create("cpu", "float32", 0)
    train_data, _ = load_data(sc, rt, cache_dir)
    history = compression.train(build_encoders(sc, train_data, rt), train_data, sc, rt)
    assert len(history) == 2 and "rec_image" not in history[0] and {"rec_audio", "rec_text"} <= set(history[0])
    assert history[0]["rec"] == pytest.approx((history[0]["rec_audio"] + history[0]["rec_text"]) / 2, rel=1e-5)


# --------------------------------------------------------------------------- cache key

# the key of TINY at cache format 3 (torch 2.14.1): a change to it discards every cached entry, so
# it changes only with a deliberate bump of the format
TINY_KEY = "e6e2991c1325b9f700e9"


def test_without_warmup_the_key_is_pinned_and_only_the_contrastive_stage_trains(tiny_raw, cache_dir, monkeypatch,
                                                                               tmp_path):
    monkeypatch.setattr(torch, "__version__", "2.14.1")  # the key holds torch's version
    assert cache_key(Scenario.model_validate(TINY)) == TINY_KEY
    assert cache_key(_scenario(TINY)) == TINY_KEY  # training.warmup: null
    monkeypatch.undo()
    # and the same weights as the contrastive stage alone from the initial weights
    tiny_raw["training"]["epochs"] = 2
    sc = Scenario.model_validate(tiny_raw)
    rt = Runtime.create("cpu", "float32", 0)
    train_data, _ = load_data(sc, rt, cache_dir)
    trained = train_or_load(sc, train_data, rt, tmp_path / "enc")
    alone = build_encoders(sc, train_data, rt)
    history = contrastive.train(alone, train_data, sc, rt)
    assert trained.history == [{**h, "stage": 1} for h in history]
    assert all(torch.equal(v, alone.state_dict()[k]) for k, v in trained.encoders.state_dict().items())


def test_the_warmup_is_part_of_the_key():
    base = cache_key(_scenario(TINY, epochs=10))
    assert base != cache_key(_scenario(TINY))
    assert cache_key(_scenario(TINY, epochs=11)) != base
    assert cache_key(_scenario(TINY, epochs=10, weight=0.5)) != base
    assert cache_key(_scenario(TINY, epochs=10, lr=1e-4)) != base
    # the decoders as resolved: naming the defaults changes nothing, another decoder does
    defaults = {m: s.model_dump() for m, s in compression_decoders(_scenario(TINY, epochs=10)).items()}
    assert defaults == {m: {**d, "options": {}} for m, d in DECODERS.items()}
    assert cache_key(_scenario(TINY, epochs=10, decoders=defaults)) == base
    assert cache_key(_scenario(TINY, epochs=10, decoders={"image": {"name": "field_mlp"}})) != base
    # a default follows the receiver's decoder for the modality, so the receiver's decoders enter
    # the key with a warm-up (and only then)
    raw = copy.deepcopy(TINY)
    raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp", "options": {"hidden": 32}}}}}
    assert cache_key(_scenario(raw, epochs=10)) != base
    assert cache_key(Scenario.model_validate(raw)) == cache_key(Scenario.model_validate(TINY))


# --------------------------------------------------------------------------- history and cache

def test_history_marks_the_warmup_and_the_entry_loads_back(tiny_raw, cache_dir, tmp_path):
    tiny_raw["training"].update(epochs=2, warmup={"epochs": 3})
    sc = Scenario.model_validate(tiny_raw)
    rt = Runtime.create("cpu", "float32", 0)
    train_data, test = load_data(sc, rt, cache_dir)
    first = train_or_load(sc, train_data, rt, tmp_path / "enc")
    assert not first.cached
    assert [h["stage"] for h in first.history] == [0, 0, 0, 1, 1]
    assert {"rec_image", "rec_audio", "rec_text", "rec", "infonce", "total"} == set(first.history[0]) - {"stage"}
    assert set(first.history[-1]) == {"infonce", "stage"}
    # the contrastive stage started from the warmed-up weights, not from the init
    alone = build_encoders(sc, train_data, rt)
    assert [{**h, "stage": 1} for h in contrastive.train(alone, train_data, sc, rt)] != first.history[3:]
    second = train_or_load(sc, train_data, rt, tmp_path / "enc")
    assert second.cached and second.history == first.history
    z1, z2 = embed(first.encoders, test), embed(second.encoders, test)
    assert all(torch.equal(z1[m], z2[m]) for m in z1)
    # fine-tuning through the channel starts from the warmed-up contrastive entry: stages 0, 1, 2
    tiny_raw["training"]["through_channel"] = {"preset": "awgn", "epochs": 1}
    tuned = train_or_load(Scenario.model_validate(tiny_raw), train_data, rt, tmp_path / "enc")
    assert tuned.history[:5] == first.history and tuned.history[5]["stage"] == 2


# --------------------------------------------------------------------------- user errors

@pytest.mark.parametrize("warmup,says", [
    ({"epochs": 2, "weight": 1.5}, "training.warmup.weight: Input should be less than or equal to 1"),
    ({"epochs": 0}, "training.warmup.epochs: Input should be greater than or equal to 1"),
    ({"weight": 0.5}, "training.warmup.epochs: required field is missing"),
    ({"epochs": 2, "objective": "contrastive"}, "training.warmup.objective: Input should be 'reconstruction'"),
    ({"epochs": 2, "decoders": {"image": {"name": "pixel_mlp"}}},
     "training.warmup.decoders.image.name: unknown decoder 'pixel_mlp'"),
    ({"epochs": 2, "decoders": {"video": {"name": "field_mlp"}}},
     "training.warmup.decoders.video: 'video' is not in data.modalities"),
    ({"epochs": 2, "decoders": {"image": {"name": "caption_tokens"}}},
     "training.warmup.decoders.image.name: decoder 'caption_tokens' rebuilds 'text', not 'image'"),
    ({"epochs": 2, "decoders": {"image": {"name": "image_mlp", "options": {"widht": 3}}}},
     "training.warmup.decoders.image.options"),
    ({"epochs": 2, "lr": -1.0}, "training.warmup.lr: Input should be greater than 0"),
    ({"epochs": 10**7}, "training.warmup.epochs: training would pass 3e9 samples (6 + 10000000 epochs x 300"),
])
def test_bad_warmups_are_one_line_errors_naming_the_field(tiny_raw, write_scenario, warmup, says):
    tiny_raw["training"]["warmup"] = warmup
    path = write_scenario(tiny_raw)
    line = refused(["validate", str(path)])
    assert f"{path}: {says}" in line, line


def test_a_huge_warmup_is_refused_by_the_training_budget(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    line = refused(["validate", str(path), "--set", "training.warmup.epochs=10000000"])
    assert "training.warmup.epochs" in line and "(raise limits.training_samples to allow it)" in line, line
