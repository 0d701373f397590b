"""The media scheme (the separation baseline): codecs, whole files over the nr link, its rows, and
its refusals."""
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import semcom_sim.links.nr_abstraction as tables
from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.cli import app
from semcom_sim.links import LINKS, LinkCost
from semcom_sim.links.nr_sizes import fits_one_block
from semcom_sim.report import read_results
from semcom_sim.transmitter import codecs
from semcom_sim.transmitter.media import MediaOptions, caption_of, decode_file, file_bytes

from conftest import refused  # noqa: E402  (tests/ is on the path)

LOSSLESS = MediaOptions()


def test_lossless_codecs_round_trip_exactly_and_lossy_ones_cost_fewer_bytes():
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 256, (1, 8, 8)) / 255.0).astype(np.float32)
    png = codecs.encode_image(image, "png", None)
    assert np.array_equal(codecs.decode_image(png, image.shape), image)
    wave = (np.sin(np.arange(8000) * 0.05) * 0.5 + rng.normal(0, 0.01, 8000)).astype(np.float32)
    wave = np.round(wave * 32768) / 32768  # on the 16-bit grid FLAC stores
    flac = codecs.encode_audio(wave, "flac", None, 8000)
    assert np.array_equal(codecs.decode_audio(flac, 8000), wave)
    opus = codecs.encode_audio(wave, "opus", 16.0, 8000)
    assert len(opus) < 1.5 * 16_000 / 8 < len(flac) / 3  # one second at 16 kbit/s, Ogg pages included
    got = codecs.decode_audio(opus, 8000)
    assert got.shape == wave.shape and 10 * np.log10(np.sum(wave ** 2) / np.sum((wave - got) ** 2)) > 3
    for codec in codecs.TEXT_CODECS:
        assert codecs.decode_text(codecs.encode_text("a picture of the digit seven", codec), codec) == \
            "a picture of the digit seven"
    assert codecs.char_errors("seven", "seven") == 0 and codecs.char_errors("seven", "eleven") == 2


def test_token_ids_are_recovered_from_the_caption_file():
    from semcom_sim.data.captions import tokenize

    ids = tokenize(["digit 7 written by hand", "forty-two, the number 42"], 16).numpy()
    for row in ids:
        got = decode_file("text", codecs.encode_text(caption_of(row), "utf8"), LOSSLESS, row, 16)
        assert np.array_equal(got, row)


@pytest.mark.parametrize("modality,like", [("image", np.zeros((1, 8, 8), np.float32)),
                                           ("audio", np.zeros(800, np.float32)),
                                           ("text", np.zeros(16, np.int64))])
@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_an_erasure_never_a_crash(modality, like, seed):
    junk = np.random.default_rng(seed).bytes(200)
    for options in (LOSSLESS, MediaOptions(image={"codec": "jpeg", "quality": 50}, text={"codec": "zstd"}),
                    MediaOptions(image={"codec": "webp"}, audio={"codec": "opus"}, text={"codec": "brotli"})):
        assert decode_file(modality, junk, options, like, 16) is None


@pytest.fixture
def step_table(monkeypatch, tmp_path):
    """BLER 1 below 0 dB, 0 above: the abstraction without minutes of table building."""
    monkeypatch.setattr(tables, "simulate_table", lambda *a: {"snr_db": [0.0, 0.25], "bler": [1.0, 0.0]})
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path / "no-shipped-tables")  # the synthetic ones only
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path / "tables"))
    tables.bler_table.cache_clear()
    yield
    tables.bler_table.cache_clear()


@pytest.mark.parametrize("mode", ["abstraction", "monte_carlo"])
def test_a_file_arrives_whole_or_is_lost(mode, step_table):
    from sionna.phy import config

    g = torch.Generator().manual_seed(0)
    files = [torch.randint(0, 256, (6, 40), generator=g, dtype=torch.uint8),
             torch.randint(0, 256, (6, 12), generator=g, dtype=torch.uint8)]
    mean, payload = torch.zeros(2, 4), torch.randn(6, 2, 4, generator=g)
    lost = torch.zeros(6, 2, dtype=torch.bool)
    lost[0, 1] = True  # a file the codec could not decode: erased even when it arrives
    link = LINKS["nr"].carry_files(LINKS["nr"].Options(mcs_index=5, mode=mode), files, mean, lost)
    assert link.info_bits == 8 * (40 + 12) and link.instance_uses(2) == link.channel_uses
    config.seed = 1
    hat, counts = link.receive(CHANNELS["awgn"](device="cpu", precision="single"), link.send(payload),
                               snr_db_to_noise_var(torch.tensor([40.0, -20.0])), 2)
    assert torch.equal(hat[0, :, 1:], payload[1:].expand(2, 5, 2, 4))
    assert torch.equal(hat[0, :, 0, 1], mean[1].expand(2, 4)) and torch.equal(hat[1], mean.expand(2, 6, 2, 4))
    rates = link.error_rates(counts, 2, payload.shape)
    assert rates["bler"].tolist() == [0.0, 1.0] and rates["file_loss"][0] == pytest.approx(1 / 12)


def test_a_file_larger_than_one_slot_is_cut_into_equal_transport_blocks():
    # 240 kbit: one slot carries at most about 82 kbit at MCS 13 (16-QAM, R 490/1024): three blocks
    assert fits_one_block(8 * 10_000, 4, 490 / 1024) and not fits_one_block(8 * 15_000, 4, 490 / 1024)
    link = LINKS["nr"].carry_files(LINKS["nr"].Options(), [torch.zeros(2, 30_000, dtype=torch.uint8)],
                                   torch.zeros(1, 4), torch.zeros(2, 1, dtype=torch.bool))
    assert link.bytes[0].shape == (2, 3, 10_000) and link.info_bits == 8 * 30_000
    assert file_bytes([b"ab", b"c"]).tolist() == [[97, 98], [99, 0]]


def test_media_rows_beside_the_conventional_scheme(tiny_raw, write_scenario, tmp_path, step_table, monkeypatch):
    import semcom_sim.pipeline as pipeline

    calls = []
    monkeypatch.setattr(pipeline, "send_media", lambda *a, send=pipeline.send_media: calls.append(1) or send(*a))
    raw = dict(tiny_raw)
    raw["transmitter"] = {"schemes": ["conventional", {"name": "media"}], "rfs_keep": [1.0, 0.5],
                          "links": ["analog", {"name": "nr", "options": {"mode": "abstraction"}}]}
    raw["channel"] = {"presets": ["awgn", "rayleigh_block"], "snr_db": [-30.0, 40.0], "mc_draws": 2}
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(write_scenario(raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    assert len(calls) == 1  # the codecs ran once, for every channel, SNR point and draw
    rows = read_results(out / "results.csv")
    assert len([r for r in rows if r["scheme"] == "media" and r["channel"] == "rayleigh_block"]) == 2
    media = {r["snr_db"]: r for r in rows if r["scheme"] == "media" and r["channel"] in ("awgn", "none")}
    assert len(media) == 3 and {r["link"] for r in media.values()} == {"nr"} and media[40.0]["rfs_keep"] == 1.0
    conv = next(r for r in rows if r["scheme"] == "conventional" and r["channel"] == "none" and r["rfs_keep"] == 1.0)
    # lossless files and no loss: the conventional head on the decoded media's embeddings
    assert abs(media[float("inf")]["acc_top1"] - conv["acc_top1"]) <= 0.005
    assert media[40.0]["acc_top1"] == media[float("inf")]["acc_top1"] and media[40.0]["file_loss"] == 0
    assert media[-30.0]["file_loss"] == 1 and media[-30.0]["acc_top1"] < 0.2  # every modality lost
    summary = json.loads((out / "summary.json").read_text())["media"]["media"]
    # the allocation (the largest file per modality), plus the zeros that cut a file into equal blocks
    assert 0 <= media[40.0]["bits"] - 8 * sum(s["alloc_bytes"] for s in summary.values()) < 8 * 8
    assert media[40.0]["media_bytes"] == pytest.approx(sum(s["mean_bytes"] for s in summary.values()), rel=1e-4)
    assert summary["text"]["distortion"] == 0 and summary["image"]["distortion"] > 40  # CER; PSNR of 8-bit pixels
    assert media[40.0]["acc_top1_capacity"] == pytest.approx(media[float("inf")]["acc_top1"])
    # the budgets' bound on the channel uses holds for the files the run made
    from semcom_sim.scenario import budget, load_scenario

    sc = load_scenario(write_scenario(raw))
    bound = next(x.uses for x in budget.plan_sizes(sc, {"image": (1, 8, 8), "audio": (8000,), "text": (16,)})
                 if x.tx.scheme == "media" and x.tx.link.label == "nr")
    assert media[40.0]["channel_uses"] <= bound


def test_file_bounds_hold_on_white_noise():
    """The bounds the budgets count (codecs.max_*_bytes) against the least compressible input."""
    import open_clip

    rng = np.random.default_rng(0)
    for shape in [(1, 8, 8), (1, 8, 16), (3, 16, 16)]:
        x = rng.random(shape).astype(np.float32)
        assert len(codecs.encode_image(x, "png", None)) <= codecs.max_image_bytes("png", shape)
        for codec in ("jpeg", "webp"):
            assert len(codecs.encode_image(x, codec, 100)) <= codecs.max_image_bytes(codec, shape)
    for n in (8000, 14000):
        x = rng.uniform(-1, 1, n).astype(np.float32)
        assert len(codecs.encode_audio(x, "flac", None, 8000)) <= codecs.max_audio_bytes("flac", n, 0)
        for kbps in (6.0, 16.0, 256.0):
            assert len(codecs.encode_audio(x, "opus", kbps, 8000)) <= codecs.max_audio_bytes("opus", n, kbps)
    tok = open_clip.tokenizer._tokenizer
    assert max(len(tok.decode([i]).encode()) for i in range(len(tok.encoder))) <= codecs.TOKEN_BYTES


def test_budgets_count_the_media_allocation(tiny_raw, write_scenario):
    from semcom_sim.scenario import budget, load_scenario

    raw = dict(tiny_raw)
    raw["transmitter"] = {"schemes": ["conventional", "media"], "rfs_keep": [1.0],
                          "links": [{"name": "nr", "options": {"mode": "abstraction"}}]}
    sc = load_scenario(write_scenario(raw))
    sizes = {x.tx.scheme: x.cost for x in budget.plan_sizes(sc, {"image": (1, 8, 8), "audio": (8000,), "text": (16,)})}
    # files of at most 140 (PNG), 16 159 (FLAC, in two blocks of 8 080) and 480 bytes (caption) at MCS 13:
    # 561 + 2 x 33 985 + 1 998 resource elements; the conventional scheme: 3 blocks of 16 x 4 bits, 34 each
    assert sizes["media"].uses == 70_529 and sizes["conventional"].uses == 3 * 34
    # decoded, the same blocks are 4 coded bits a resource element (16-QAM) through 20 BP iterations
    assert LINKS["nr"].files_cost(LINKS["nr"].Options(), [140, 16_159, 480]) == LinkCost(70_529, 4 * 70_529, 20)
    # the abstraction needs each block's SINR: over AWGN or block fading one symbol per block (image 1,
    # audio 2, text 1; the conventional scheme's 3), over fast fading every symbol for the EESM
    assert sizes["media"].sinr_symbols == 4 and sizes["conventional"].sinr_symbols == 3
    # over fast fading (i.i.d. SINRs) blocks of 4096 symbols or more go by the EESM's law, one draw
    # each (the audio's two), the shorter ones every symbol (image 561, text 1 998; the conventional 3 x 34)
    assert sizes["media"].law_symbols == 561 + 2 + 1_998 and sizes["conventional"].law_symbols == 3 * 34
    exact = LINKS["nr"].Options(mode="abstraction", eesm="symbols")
    assert LINKS["nr"].files_cost(exact, [140, 16_159, 480]).law_symbols == 70_529
    s, r, n = len(sc.channel.snr_values()), sc.channel.mc_draws, 100
    counts = budget.Counts(300, n)
    shapes = {"image": (1, 8, 8), "audio": (8000,), "text": (16,)}
    for kinds, per_instance in [(("block",), 4 + 3), (("symbol",), 70_529 + 102), (("iid",), 2_561 + 102),
                                (("block", "symbol", "iid"), 4 + 3 + 70_529 + 102 + 2_561 + 102)]:
        sc_p = sc.model_copy(update={"channel": sc.channel.model_copy(update={"presets": ["p"] * len(kinds)})})
        assert budget.estimate(sc_p, counts, shapes, {}, kinds).channel_symbols == s * r * n * per_instance
    # and what validation reads off the presets
    assert budget.preset_sinr_kinds(sc.model_copy(update={"channel": sc.channel.model_copy(
        update={"presets": ["awgn", "rayleigh_block", "rayleigh_block_est", "rayleigh_fast", "tdl_c"]})})) == \
        ("block", "block", "block", "iid", "symbol")


@pytest.mark.parametrize("scheme,links,expected", [
    ({"name": "media", "options": {"image": {"codec": "jpeg", "quality": 0}}}, ["nr"], "greater than or equal to 1"),
    ({"name": "media", "options": {"image": {"codec": "opus"}}}, ["nr"], "'png', 'jpeg' or 'webp'"),
    ({"name": "media", "options": {"image": {"quality": 50}}}, ["nr"], "png is lossless and takes no quality"),
    ({"name": "media", "options": {"audio": {"codec": "opus", "bitrate_kbps": 1}}}, ["nr"], "greater than or equal to 6"),
    ({"name": "media", "options": {"audio": {"bitrate_kbps": 32}}}, ["nr"], "flac is lossless"),
    ({"name": "media"}, ["analog"], "carries embeddings, not files"),
])
def test_bad_media_options_are_refused_in_one_line(tiny_raw, write_scenario, tmp_path, scheme, links, expected):
    raw = dict(tiny_raw)
    raw["transmitter"] = {"schemes": [scheme], "rfs_keep": [1.0], "links": links}
    line = refused(["validate", str(write_scenario(raw))])
    assert expected in line and "transmitter." in line


def test_embeddings_data_is_refused(tmp_path):
    arrays = {m: np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32) for m in ("image", "text")}
    arrays["labels"] = np.arange(40) % 2
    np.savez(tmp_path / "emb.npz", **arrays)
    raw = {"name": "emb", "device": "cpu", "embedding_dim": 8,
           "data": {"source": "embeddings", "modalities": ["image", "text"], "cache_dir": str(tmp_path / "cache"),
                    "options": {"npz_path": str(tmp_path / "emb.npz")}},
           "encoders": {m: {"name": "identity"} for m in ("image", "text")}, "training": {"temperature": 0.1},
           "transmitter": {"schemes": ["media"], "rfs_keep": [1.0], "links": ["nr"]},
           "channel": {"presets": ["awgn"], "snr_db": [0.0], "mc_draws": 1}}
    path = tmp_path / "emb.yaml"
    path.write_text(json.dumps(raw))
    line = refused(["validate", str(path)])
    assert "holds embeddings, no media" in line and "transmitter.schemes.0" in line
