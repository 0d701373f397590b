import json

from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.report import RESULT_COLUMNS, read_results

runner = CliRunner()


def test_end_to_end_tiny_run(tiny_raw, write_scenario, tmp_path):
    path = write_scenario(tiny_raw)
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    assert {"results.csv", "summary.json", "scenario.yaml", "accuracy_vs_snr_analog.png", "accuracy_vs_tti.png", "accuracy_vs_channel_uses.png"} <= {
        p.name for p in out.iterdir()}
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == RESULT_COLUMNS
    rows = read_results(out / "results.csv")
    # 2 schemes x 2 RFS fractions x (noiseless + 2 channels x 3 SNR points)
    assert len(rows) == 2 * 2 * (1 + 2 * 3)
    by = {(r["scheme"], r["channel"], r["rfs_keep"], r["snr_db"]): r for r in rows}
    conv, cent = by[("conventional", "none", 1.0, float("inf"))], by[("centroid", "none", 1.0, float("inf"))]
    assert conv["tti"] == 3 * 16 and cent["tti"] == 16 and conv["tti"] == 3 * cent["tti"]
    assert cent["channel_uses"] == 8 and conv["channel_uses"] == 24
    assert cent["toi"] == 64 + 8000 + 16
    assert by[("centroid", "none", 0.5, float("inf"))]["payload_dims"] == 8
    # the tiny encoders already separate the ten digits well above chance, and more SNR helps
    assert cent["acc_top1"] > 0.6
    low, high = by[("centroid", "awgn", 1.0, 0.0)], by[("centroid", "awgn", 1.0, 20.0)]
    assert high["acc_top1"] >= low["acc_top1"]
    assert all(r["acc_top5"] >= r["acc_top1"] for r in rows)
    # retrieval against the clean test payloads: every instance finds itself without noise, and
    # more SNR finds more (averaged over the draws)
    assert all(r["r1"] == 1.0 and r["r5"] == 1.0 for r in rows if r["channel"] == "none")
    assert all(1.0 >= r["r5"] >= r["r1"] >= 0.0 for r in rows)
    assert by[("centroid", "awgn", 1.0, 20.0)]["r1"] > by[("centroid", "awgn", 1.0, 0.0)]["r1"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["latent_test"]["gap"]) == {"image-audio", "image-text", "audio-text"}
    lat = summary["latent_test"]
    assert len(lat["cross_modal_retrieval"]) == 6 and set(lat["uniformity"]) == {"image", "audio", "text"}
    assert lat["clustering"]["k"] == 10 and -1.0 <= lat["clustering"]["ari"] <= 1.0
    assert all(0.0 <= v["r1"] <= v["r5"] <= 1.0 for v in lat["cross_modal_retrieval"].values())
    assert "training" in summary["timings_s"]


def test_reruns_are_byte_identical_with_and_without_cached_encoders(tiny_raw, write_scenario, tmp_path):
    tiny_raw["data"]["cache_dir"] = str(tmp_path / "fresh-cache")
    tiny_raw["channel"]["presets"] = ["rayleigh_fast"]
    path = write_scenario(tiny_raw)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        res = runner.invoke(app, ["run", str(path), "--out", str(out)])
        assert res.exit_code == 0, res.stderr
    assert json.loads((outs[1] / "summary.json").read_text())["encoders_cached"] is True
    assert json.loads((outs[0] / "summary.json").read_text())["encoders_cached"] is False
    assert (outs[0] / "results.csv").read_bytes() == (outs[1] / "results.csv").read_bytes()
    # an earlier run's folder is replaced, not mixed
    res = runner.invoke(app, ["run", str(path), "--out", str(outs[0]), "--set", "channel.snr_db=[5.0]"])
    assert res.exit_code == 0
    assert len(read_results(outs[0] / "results.csv")) == 2 * 2 * 2


def test_frozen_pretrained_clip_towers_train_only_their_projections(tiny_raw, write_scenario, tmp_path):
    """A scenario with CLIP towers loaded from a local checkpoint, frozen: the run trains only the
    linear projections at the chosen temperature, and the towers keep the checkpoint's weights."""
    import torch

    from semcom_sim.encoders.clip import load_open_clip
    from semcom_sim.scenario import parse_scenario
    from semcom_sim.pipeline import load_data
    from semcom_sim.runtime import Runtime
    from semcom_sim.training import train_or_load

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_clip.pt"
    open_clip = load_open_clip()
    torch.save(open_clip.create_model("semcom-tiny-clip").state_dict(), ckpt)
    tower = {"model": "semcom-tiny-clip", "pretrained": str(ckpt), "freeze": True}
    tiny_raw["data"]["modalities"] = ["image", "text"]
    tiny_raw["encoders"] = {"image": {"name": "clip_image", "options": tower},
                            "text": {"name": "clip_text", "options": tower}}
    tiny_raw["training"].update(epochs=8, lr=0.01)
    sc = parse_scenario(write_scenario(tiny_raw))
    rt = Runtime.create("cpu", "float32", 0)
    train, _ = load_data(sc, rt, tmp_path / "cache")
    trained = train_or_load(sc, train, rt, tmp_path / "cache")
    losses = [h["infonce"] for h in trained.history]
    # random frozen towers carry little class information; the projections still learn something
    assert losses[-1] < losses[0] - 0.02
    reference = open_clip.create_model("semcom-tiny-clip", pretrained=str(ckpt)).state_dict()
    image_tower = {k.split("tower.", 1)[1]: v for k, v in trained.encoders["image"].state_dict().items()
                   if "tower." in k}
    assert image_tower and all(torch.equal(v, reference[f"visual.{k}"]) for k, v in image_tower.items())
    trainable = [n for n, p in trained.encoders.named_parameters() if p.requires_grad]
    assert trainable and all("proj" in n for n in trainable), trainable


def test_digital_link_and_equal_bandwidth_rows(tiny_raw, write_scenario, tmp_path):
    tiny_raw["transmitter"] = {"schemes": ["conventional", "centroid"], "rfs_keep": [1.0],
                               "links": ["analog", {"name": "digital", "options": {"bits": 4, "code_rate": 0.5,
                                                                                   "bits_per_symbol": 2,
                                                                                   "ldpc_iterations": 10}}],
                               "equal_bandwidth": ["bits"]}
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [-5.0, 20.0], "mc_draws": 1}
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_results(out / "results.csv")
    by = {(r["scheme"], r["link"], r["snr_db"]): r for r in rows}
    conv, cent, eq = (by[(s, "digital", 20.0)] for s in ("conventional", "centroid", "centroid_eq_bits"))
    # k = T * b information bits per vector; QPSK at rate 1/2 carries 1 bit per channel use
    assert cent["bits"] == 16 * 4 and conv["bits"] == 3 * 16 * 4 and eq["bits"] == 16 * 12
    assert cent["channel_uses"] == 64 and conv["channel_uses"] == eq["channel_uses"] == 192
    assert conv["tti"] == 48 and eq["tti"] == cent["tti"] == 16  # TTI counts values, not bits
    for r in (conv, cent, eq):
        assert r["ber"] == 0 and r["bler"] == 0  # coded link at 20 dB on a seeded batch
        noiseless = by[(r["scheme"], "digital", float("inf"))]
        assert r["acc_top1"] == noiseless["acc_top1"]  # an error-free link delivers the quantised payload
        # 1 bit per channel use fits log2(1 + 100): the capacity reference delivers too
        assert r["acc_top1_capacity"] == noiseless["acc_top1"]
    low = by[("centroid", "digital", -5.0)]
    assert low["ber"] > 0.05 and low["acc_top1_capacity"] == 0.1  # -5 dB: below capacity, chance
    assert by[("centroid", "analog", -5.0)]["ber"] == ""  # analog rows carry no bit counts
    assert "centroid_eq_bits" not in {r["scheme"] for r in rows if r["link"] == "analog"}


def test_rfs_streams_are_keyed_by_the_kept_coordinates(tiny_raw, write_scenario, tmp_path):
    """min(1, 3 * 0.1) = 0.30000000000000004: the equal-bandwidth centroid at keep 0.1 keeps the same
    T = round(0.3 * D) coordinates as the centroid at keep 0.3, so both must draw the same RFS set
    and share one receiver: identical noiseless rows (a float-keyed stream drew a different set)."""
    tiny_raw["transmitter"] = {"schemes": ["centroid"], "rfs_keep": [0.1, 0.3], "equal_bandwidth": ["rfs"]}
    tiny_raw["channel"]["presets"] = ["awgn"]
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = {(r["scheme"], r["channel"], r["rfs_keep"]): r for r in read_results(out / "results.csv")}
    eq, plain = rows[("centroid_eq_rfs", "none", 0.3)], rows[("centroid", "none", 0.3)]
    assert eq["payload_dims"] == plain["payload_dims"] == round(0.3 * tiny_raw["embedding_dim"])
    assert (eq["acc_top1"], eq["acc_top5"]) == (plain["acc_top1"], plain["acc_top5"])


def test_payload_mse_slice_by_slice_equals_the_difference_formed_whole():
    """pipeline._mean_square_error keeps one slice's difference at a time: the same values as the
    norm of the whole difference, for the centroid's read (a mean over the vectors) too."""
    import math

    import torch

    from semcom_sim.pipeline import _mean_square_error

    g = torch.Generator().manual_seed(0)
    received, clean = torch.randn(3, 4, 200, 3, 40, generator=g), torch.randn(200, 3, 40, generator=g)
    for reads in (lambda p: p, lambda p: p.mean(-2, keepdim=True)):
        diff = reads(received) - reads(clean)
        whole = torch.linalg.vector_norm(diff, dim=(-3, -2, -1)).square_() / math.prod(diff.shape[-3:])
        assert torch.equal(_mean_square_error(reads, received, reads(clean)), whole)
    assert torch.equal(_mean_square_error(lambda p: p, clean, clean), torch.tensor(0.0))  # one payload, no draws
