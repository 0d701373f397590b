"""Decoders at the receiver, end to end: columns, error against SNR, and the Table 1 layout."""
import csv

import pytest
import torch
import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.report import read_results

runner = CliRunner()
DECODERS = {"image": {"name": "image_mlp"}, "audio": {"name": "logmel_mlp"}, "text": {"name": "caption_tokens"}}


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

    from semcom_sim.config import load_scenario
    from semcom_sim.pipeline import load_data
    from semcom_sim.runtime import Runtime

    sc = load_scenario(out / "scenario.yaml")
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
    from semcom_sim.receiver.decoders import fit_decoder
    from semcom_sim.receiver.receiver import Receiver
    from semcom_sim.receiver.reconstruction import ReconstructionMetrics

    g = torch.Generator().manual_seed(0)
    labels_train, labels = torch.arange(n_train) % 5, torch.arange(n) % 5
    p_train, p_test = torch.randn(n_train, 3, t, generator=g), torch.randn(n, 3, t, generator=g)
    captions = torch.randint(1, 20, (n_train + n, 8), generator=g)
    captions[:, 0], captions[:, 6:] = 49406, 0
    targets = {"image": torch.rand(n_train + n, 1, 4, 4, generator=g), "audio": torch.randn(n_train + n, 6, 9, generator=g),
               "text": captions}
    names = {"image": "image_mlp", "audio": "logmel_mlp", "text": "caption_tokens"}
    rx = Receiver(fit_linear_head(p_train.flatten(1), labels_train, 1.0), labels)
    for v, (m, tg) in enumerate(targets.items()):
        dec = fit_decoder(names[m], p_train[:, v], tg[:n_train], options={"hidden": 16}, epochs=2, lr=1e-2,
                          batch_size=64, generator=torch.Generator().manual_seed(v))
        rx.decoders[m] = (v, dec, ReconstructionMetrics.fit(m, tg[:n_train], labels_train), tg[n_train:])
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


def test_audio_decoder_rebuilds_the_encoders_own_log_mel(tiny_raw, write_scenario, tmp_path):
    """An audio encoder with 40 mel bands and another hop: the scenario validates, and the audio
    decoder's targets are that encoder's front end on the same waveforms, not the defaults."""
    import numpy as np

    from semcom_sim.config import load_scenario
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
    _, test = load_data(load_scenario(out / "scenario.yaml"), Runtime.create("cpu", "float32", 0), tmp_path / "unused")
    wav = test.inputs["audio"][:original.shape[0]]
    expected = LogMel(sample_rate=8000, **front)(wav)
    np.testing.assert_allclose(original, expected.numpy(), rtol=0, atol=1e-5)
