"""Decoders at the receiver, end to end: columns, error against SNR, and the Table 1 layout."""
import csv
import math

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.data import SOURCES, DataSource, MultimodalData
from semcom_sim.encoders import ENCODERS, Encoder
from semcom_sim.report import read_results

runner = CliRunner()
DECODERS = {"image": {"name": "image_mlp"}, "audio": {"name": "logmel_mlp"}, "text": {"name": "caption_tokens"}}


@pytest.mark.slow  # three decoders trained 20 epochs each, then an SNR sweep: the longest single measurement
def test_reconstruction_columns_and_error_against_snr(tiny_raw, write_scenario, tmp_path):
    tiny_raw["receiver"] = {"reconstruction": {"decoders": DECODERS, "epochs": 20}}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["channel"] = {"presets": ["awgn", "rayleigh_block"], "snr_db": [-10.0, 0.0, 20.0], "mc_draws": 3}
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_results(out / "results.csv")
    for col in ("mae_image", "mse_image", "psnr_image", "acc_recon_image", "mae_audio", "mse_audio",
                "acc_recon_audio", "mae_text", "token_acc_text", "acc_recon_text"):
        assert col in rows[0]
    by = {(r["scheme"], r["channel"], r["snr_db"]): r for r in rows}
    # the mean test image is the baseline a decoder must beat
    import numpy as np

    from semcom_sim.scenario import parse_scenario
    from semcom_sim.pipeline import load_data
    from semcom_sim.runtime import Runtime

    sc = parse_scenario(out / "scenario.yaml")
    _, test = load_data(sc, Runtime.create("cpu", "float32", 0), tmp_path / "unused")
    img = test.inputs["image"].numpy()
    baseline = float(np.mean((img - img.mean(0)) ** 2))
    for scheme in ("conventional", "centroid"):
        clean = by[(scheme, "none", float("inf"))]
        assert clean["mse_image"] < 0.7 * baseline
        assert clean["acc_recon_image"] > 0.6  # a fixed raw-image classifier recognises the rebuilt digits
        for ch in ("awgn", "rayleigh_block"):
            mse = [by[(scheme, ch, s)]["mse_image"] for s in (20.0, 0.0, -10.0)]
            assert mse[0] < mse[1] < mse[2], (scheme, ch, mse)
            assert by[(scheme, ch, 20.0)]["psnr_image"] > by[(scheme, ch, -10.0)]["psnr_image"]
    assert (out / "reconstructions.png").is_file() and (out / "reconstructions.npz").is_file()


def test_reconstruction_table_has_six_rows_per_condition(tiny_raw, write_scenario, tmp_path):
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp"}}, "epochs": 5}}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["training"]["epochs"] = 2
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t1", "base": "base.yaml", "reconstruction_table": True,
                                   "grid": {"embedding_dim": [3, 16, 32]}}))
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    table = list(csv.DictReader(open(out / "reconstruction_table.csv")))
    for cond in ("noiseless", "awgn 10 dB"):
        rows = [r for r in table if r["condition"] == cond]
        assert [(r["method"], int(r["latent_dim"])) for r in rows] == [
            (s, d) for d in (3, 16, 32) for s in ("conventional", "centroid")]
        for r in rows:
            d = int(r["latent_dim"])
            assert int(r["tti"]) == (3 * d if r["method"] == "conventional" else d)
            assert float(r["tti_saving"]) == (0.0 if r["method"] == "conventional" else 1 - 1 / 3)
    assert "| centroid | 16 |" in (out / "reconstruction_table.md").read_text()


def _receiver_with_decoders(n_train=150, n=30, t=6):
    """A conventional-scheme receiver (3 vectors of T values) with a small decoder per modality."""
    from semcom_sim.receiver import fit_linear_head
    from semcom_sim.receiver.decoders import DECODERS, fit_decoder
    from semcom_sim.receiver.receiver import Receiver

    g = torch.Generator().manual_seed(0)
    labels_train, labels = torch.arange(n_train) % 5, torch.arange(n) % 5
    p_train, p_test = torch.randn(n_train, 3, t, generator=g), torch.randn(n, 3, t, generator=g)
    captions = torch.randint(1, 20, (n_train + n, 8), generator=g)
    captions[:, 0], captions[:, 6:] = 49406, 0
    targets = {"image": torch.rand(n_train + n, 1, 4, 4, generator=g),
               "audio": torch.randn(n_train + n, 6, 9, generator=g), "text": captions}
    names = {"image": "image_mlp", "audio": "logmel_mlp", "text": "caption_tokens"}
    rx = Receiver(fit_linear_head(p_train.flatten(1), labels_train, 1.0), labels)
    for v, (m, tg) in enumerate(targets.items()):
        dec = fit_decoder(names[m], p_train[:, v], tg[:n_train], options={"hidden": 16}, epochs=2, lr=1e-2,
                          batch_size=64, generator=torch.Generator().manual_seed(v))
        metrics = DECODERS[names[m]].metrics.fit(m, tg[:n_train], labels_train)
        rx.decoders[m] = (v, dec, metrics, tg[n_train:])
    return rx, p_test


def test_receiver_scores_a_sweep_in_chunks_as_slice_by_slice(monkeypatch):
    import semcom_sim.receiver.receiver as receiver_module

    rx, p_test = _receiver_with_decoders()
    payload = p_test + 0.3 * torch.randn(3, 4, *p_test.shape, generator=torch.Generator().manual_seed(1))
    kept = payload.clone()
    # 5 slices per chunk over 12: two full chunks and a partial one
    monkeypatch.setattr(receiver_module, "DECODER_VALUES_PER_CHUNK", 5 * 30 * 6 * 9)
    got = rx.measure(payload)
    assert torch.equal(payload, kept)
    ref: dict[str, list] = {}
    for p in payload.flatten(0, 1):
        for vector, decoder, metrics, targets in rx.decoders.values():
            for k, v in metrics(decoder(p[:, vector]), targets, rx.labels).items():
                ref.setdefault(k, []).append(v)
    assert set(ref) < set(got)
    for k, v in ref.items():
        assert got[k].shape == (3, 4)
        assert torch.allclose(got[k], torch.stack(v).reshape(3, 4), rtol=1e-6, atol=1e-6), k
    clean = rx.measure(p_test)  # one slice, no leading dimensions
    assert all(v.shape == () for v in clean.values())
    for vector, decoder, metrics, targets in rx.decoders.values():
        for k, v in metrics(decoder(p_test[:, vector]), targets, rx.labels).items():
            assert float(clean[k]) == pytest.approx(float(v), abs=1e-6), k


def test_planned_decoders_score_each_draws_own_instances(monkeypatch):
    """With a pairs budget the decoders score, in each draw, exactly the plan's rows of that draw
    (every metric equal to scoring those instances alone); the head still reads every instance."""
    import numpy as np

    import semcom_sim.receiver.receiver as receiver_module
    from semcom_sim.receiver.retrieval import QueryPlan

    rx, p_test = _receiver_with_decoders()
    payload = p_test + 0.3 * torch.randn(3, 4, *p_test.shape, generator=torch.Generator().manual_seed(1))
    whole = rx.measure(payload, range(2, 6), 8)
    rx.recon_plan = QueryPlan.draw(30, 80, np.random.default_rng(4))  # 30 x 8 draws > 80: 10 per draw
    monkeypatch.setattr(receiver_module, "DECODER_VALUES_PER_CHUNK", 2 * 10 * 6 * 9)  # chunks of 2 SNR points
    got = rx.measure(payload, range(2, 6), 8)
    rows = rx.recon_plan.rows(range(2, 6), 8)
    assert rows.shape == (4, 10)
    assert torch.equal(got["acc_top1"], whole["acc_top1"])
    for vector, decoder, metrics, targets in rx.decoders.values():
        for j, r in enumerate(rows):
            for s in range(3):
                ref = metrics(decoder(payload[s, j, r, vector]), targets[r], rx.labels[r])
                for k, v in ref.items():
                    assert float(got[k][s, j]) == pytest.approx(float(v), abs=1e-6), k
    assert any(not torch.allclose(got[k], whole[k]) for k in whole if k.startswith("mse_"))
    clean = rx.measure(p_test)  # the noiseless payload: 30 instances fit in the budget of one draw
    for vector, decoder, metrics, targets in rx.decoders.values():
        for k, v in metrics(decoder(p_test[:, vector]), targets, rx.labels).items():
            assert float(clean[k]) == pytest.approx(float(v), abs=1e-6), k


def test_audio_decoder_rebuilds_the_encoders_own_log_mel(tiny_raw, write_scenario, tmp_path):
    """An audio encoder with 40 mel bands and another hop: the scenario validates, and the audio
    decoder's targets are that encoder's front end on the same waveforms, not the defaults."""
    import numpy as np

    from semcom_sim.scenario import parse_scenario
    from semcom_sim.encoders.audio import LogMel
    from semcom_sim.pipeline import load_data
    from semcom_sim.runtime import Runtime

    front = {"n_mels": 40, "hop": 100, "n_fft": 200}
    tiny_raw["encoders"]["audio"]["options"].update(front)
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"audio": {"name": "logmel_mlp"}}, "epochs": 2}}
    tiny_raw["training"]["epochs"] = 1
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    path = write_scenario(tiny_raw)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output + res.stderr
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "mse_audio" in read_results(out / "results.csv")[0]
    f = np.load(out / "reconstructions.npz")
    original = f["original_audio"]
    frames = 8000 // front["hop"] + 1
    assert original.shape[1:] == (40, frames)
    assert f["centroid_audio"].shape[-2:] == (40, frames)
    _, test = load_data(parse_scenario(out / "scenario.yaml"), Runtime.create("cpu", "float32", 0), tmp_path / "unused")
    wav = test.inputs["audio"][:original.shape[0]]
    expected = LogMel(sample_rate=8000, **front)(wav)
    np.testing.assert_allclose(original, expected.numpy(), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------- a new modality

class DigitClips(DataSource):
    """A stand-in source with a modality no decoder knows: each of sklearn's 8x8 digits as an image
    [1, 8, 8] and as a ``video`` [4, 8, 8] of four frames, the digit drifting one pixel to the
    right and fading per frame."""

    modalities = ("image", "video")
    frames = 4

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"image": (1, 8, 8), "video": (self.frames, 8, 8)}

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int]:
        n = min(limit or 1797, 1797)
        return n - math.ceil(test_fraction * n), math.ceil(test_fraction * n)

    def load(self, cache_dir, seed: int, test_fraction: float, limit: int | None = None):
        from sklearn.datasets import load_digits

        d = load_digits()
        n_train, n_test = self.instance_counts(test_fraction, limit)
        keep = np.random.default_rng(seed).permutation(len(d.target))[:n_train + n_test]
        images = torch.from_numpy(d.images[keep].astype(np.float32) / 16.0).unsqueeze(1)
        video = torch.cat([torch.roll(images, t, dims=-1) * (1.0 - 0.2 * t) for t in range(self.frames)], dim=1)
        data = MultimodalData({"image": images, "video": video}, torch.from_numpy(d.target[keep].astype(np.int64)),
                              tuple(str(c) for c in range(10)), {"image": 64, "video": 64 * self.frames})
        return data.subset(np.arange(n_train)), data.subset(np.arange(n_train, n_train + n_test))


class ClipMLP(Encoder):
    """A stand-in ``video`` encoder: input [N, T, H, W] flattened, then a two-layer MLP -> [N, D]."""

    modality = "video"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.GELU(),
                                 nn.Linear(width, dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture
def video_modality(monkeypatch, tiny_raw):
    """The source and the encoder of ``video`` registered as a module of their own would register
    them (the registries' public decorators); the registries are restored afterwards. Returns a
    scenario on them, with no decoder yet."""
    for registry in (SOURCES, ENCODERS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    SOURCES.register("test_digit_clips")(DigitClips)
    ENCODERS.register("test_clip_mlp")(ClipMLP)
    tiny_raw["data"] = {"source": "test_digit_clips", "modalities": ["image", "video"], "test_fraction": 0.25,
                        "limit": 400, "cache_dir": tiny_raw["data"]["cache_dir"]}
    tiny_raw["encoders"] = {"image": {"name": "small_cnn", "options": {"width": 8}},
                            "video": {"name": "test_clip_mlp", "options": {"width": 32}}}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["channel"] = {"presets": ["awgn", "rayleigh_block"], "snr_db": [-10.0, 0.0, 20.0], "mc_draws": 3}
    return tiny_raw


def test_a_new_modality_needs_no_decoder_code(video_modality, write_scenario, tmp_path):
    """A ``video`` modality added with only its source and its encoder: ``field_mlp`` rebuilds its
    raw frames, scored on the training range, and its error grows as the SNR falls."""
    video_modality["receiver"] = {"reconstruction": {"decoders": {"video": {"name": "field_mlp"}}, "epochs": 20}}
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(write_scenario(video_modality)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_results(out / "results.csv")
    assert {"mae_video", "mse_video", "acc_recon_video"} <= set(rows[0])
    assert not any(k.endswith("_image") for k in rows[0])  # the image has no decoder here
    by = {(r["scheme"], r["channel"], r["snr_db"]): r for r in rows}
    for scheme in ("conventional", "centroid"):
        assert by[(scheme, "none", float("inf"))]["acc_recon_video"] > 0.5
        for ch in ("awgn", "rayleigh_block"):
            for col in ("mse_video", "mae_video"):
                err = [by[(scheme, ch, s)][col] for s in (20.0, 0.0, -10.0)]
                assert 0.0 < err[0] < err[1] < err[2] < 1.0, (scheme, ch, col, err)
    f = np.load(out / "reconstructions.npz")
    assert f["original_video"].shape[1:] == (4, 8, 8) and f["centroid_video"].shape[-3:] == (4, 8, 8)
    # the same frames with image_mlp (they are pixels in [0, 1]): its PSNR column carries the modality's name
    video_modality["receiver"]["reconstruction"]["decoders"]["video"] = {"name": "image_mlp"}
    video_modality["receiver"]["reconstruction"]["epochs"] = 2
    video_modality["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    res = runner.invoke(app, ["run", str(write_scenario(video_modality)), "--out", str(tmp_path / "pixels")])
    assert res.exit_code == 0, res.output + res.stderr
    assert "psnr_video" in read_results(tmp_path / "pixels" / "results.csv")[0]


@pytest.mark.parametrize("decoder,message", [
    ("caption_tokens", "decoder 'caption_tokens' rebuilds 'text', not 'video' (field_mlp rebuilds"),
    ("logmel_mlp", "decoder 'logmel_mlp' rebuilds 'audio', not 'video'"),
])
def test_a_decoder_of_another_modality_is_refused_at_validation(video_modality, write_scenario, decoder, message):
    video_modality["receiver"] = {"reconstruction": {"decoders": {"video": {"name": decoder}}}}
    res = runner.invoke(app, ["validate", str(write_scenario(video_modality))])
    assert res.exit_code == 2
    assert "receiver.reconstruction.decoders.video.name" in res.stderr and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_plot_draws_every_image_like_or_2d_target(tmp_path, monkeypatch):
    """Any modality's [1 or 3, H, W] or 2-D target is drawn, whatever its name; others are left out."""
    from semcom_sim.report import reconstructions

    shapes = {"rgb": (3, 4, 4), "gray": (1, 4, 4), "field": (5, 6), "caption": (7,), "clip": (4, 8, 8)}
    examples = {"snr_db": [0.0, 10.0], "channel": "awgn",
                "original": {m: torch.rand(2, *s) for m, s in shapes.items()},
                "centroid": {m: torch.rand(2, 2, *s) for m, s in shapes.items()}}
    reconstructions.save_reconstructions(tmp_path / "r.npz", examples)
    drawn = []
    draw = reconstructions._draw
    monkeypatch.setattr(reconstructions, "_draw", lambda ax, x, low, high: (drawn.append(x.shape),
                                                                            draw(ax, x, low, high)))
    reconstructions.plot_reconstructions(tmp_path / "r.npz", tmp_path / "r.png")
    assert (tmp_path / "r.png").is_file()
    # 3 rows (the originals, the scheme at two SNRs) x 2 instances of each drawable modality
    assert sorted(set(drawn)) == [(1, 4, 4), (3, 4, 4), (5, 6)] and len(drawn) == 3 * 3 * 2


def test_token_ids_given_to_a_field_decoder_are_refused_in_one_line(tiny_raw, write_scenario, tmp_path):
    """Validation sees shapes, not dtypes: ``field_mlp`` on the captions' token ids passes it, and
    the run refuses it in one line when the targets are made, naming the decoder's field."""
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"text": {"name": "field_mlp"}}, "epochs": 1}}
    tiny_raw["training"]["epochs"] = 1
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    res = runner.invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "receiver.reconstruction.decoders.text: 'field_mlp': FieldMLP regresses real values" in res.stderr
    assert "token ids need caption_tokens" in res.stderr
