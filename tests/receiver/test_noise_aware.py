"""Noise-aware receivers (receiver.train_snr_db), comparisons at equal energy per instance
(channel.snr_reference) and `semcom-sim compare`."""
import copy
import csv
import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY, refused
from typer.testing import CliRunner

from semcom_sim.channel import build_channel
from semcom_sim.cli import app
from semcom_sim.scenario import ChannelPreset, TrainSnrRange
from semcom_sim.links.analog import Analog
from semcom_sim.receiver.noise_aware import describe, draw_snr_db, noisy_copies

runner = CliRunner()


def test_training_snr_draws():
    rng = np.random.default_rng(0)
    assert (draw_snr_db(5.0, 10, rng) == 5.0).all()
    picks = draw_snr_db((0.0, 10.0, 20.0), 30000, rng)
    assert set(picks) == {0.0, 10.0, 20.0}
    assert all(abs((picks == v).mean() - 1 / 3) < 0.015 for v in (0.0, 10.0, 20.0))  # sd 0.0027
    u = draw_snr_db(TrainSnrRange(start=-10.0, stop=20.0), 30000, rng)
    assert u.min() >= -10 and u.max() <= 20 and abs(u.mean() - 5.0) < 0.3 and abs(u.std() - 30 / math.sqrt(12)) < 0.3
    assert [describe(s) for s in (None, 0.0, (0.0, 10.0), TrainSnrRange(start=-5, stop=25))] == [
        "clean", "0 dB", "0/10 dB", "-5..25 dB"]


def test_each_copy_crosses_the_channel_at_its_own_snr():
    g = torch.Generator().manual_seed(0)
    payload = torch.randn(200, 3, 16, generator=g)
    link = Analog.fit(payload)
    channel = build_channel(ChannelPreset(name="awgn", model="awgn"), torch.device("cpu"), "single")
    # copy 0 at 40 dB, copy 1 at -20 dB
    snr = np.concatenate([np.full(200, 40.0), np.full(200, -20.0)])
    out = noisy_copies(link, payload, channel, snr, draws=2, per_instance=False)
    assert out.shape == (400, 3, 16)
    clean_err = ((out[:200] - payload).norm() / payload.norm()).item()
    assert clean_err < 0.03  # 40 dB: the payload comes back (relative error about 0.01)
    # -20 dB: the MMSE estimate shrinks towards zero, by 1 / (1 + N0) = 1 / 101 in the mean
    assert (out[200:].norm() / payload.norm()).item() < 0.2


def _tiny(cache_dir, **receiver):
    raw = copy.deepcopy(TINY)
    raw["data"]["cache_dir"] = str(cache_dir)
    raw["transmitter"] = {"schemes": ["conventional", "centroid"], "rfs_keep": [1.0], "links": ["analog", "digital"]}
    raw["channel"] = {"presets": ["awgn"], "snr_db": [0.0, 10.0], "mc_draws": 2, "snr_reference": "instance"}
    raw["receiver"] = receiver
    return raw


@pytest.fixture(scope="module")
def two_runs(cache_dir, tmp_path_factory):
    """The tiny scenario at equal energy per instance, clean-trained and trained at 0 dB."""
    import yaml

    d = tmp_path_factory.mktemp("noise_aware")
    out = {}
    for name, rx in (("clean", {}), ("noisy", {"train_snr_db": 0.0})):
        path = d / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_tiny(cache_dir, **rx)))
        res = runner.invoke(app, ["run", str(path), "--out", str(d / name)])
        assert res.exit_code == 0, res.output + res.stderr
        out[name] = d / name
    return out


def _rows(folder):
    return list(csv.DictReader(open(folder / "results.csv")))


# slow: the module fixture two_runs is two full runs (about a minute on 2 cores); all three of its
# tests are marked, or a CI run that keeps one would still pay for the fixture
@pytest.mark.slow
def test_noise_aware_training_moves_only_the_receiver(two_runs):
    clean, noisy = _rows(two_runs["clean"]), _rows(two_runs["noisy"])
    key = lambda r: (r["scheme"], r["link"], r["channel"], r["snr_db"])  # noqa: E731
    noisy_by = {key(r): r for r in noisy}
    assert {r["rx_train"] for r in clean} == {"clean"} and {r["rx_train"] for r in noisy} == {"0 dB"}
    summaries = [json.loads((two_runs[k] / "summary.json").read_text()) for k in ("clean", "noisy")]
    assert summaries[0]["encoders_cache_key"] == summaries[1]["encoders_cache_key"]  # same encoders
    changed = 0
    for r in clean:
        n = noisy_by[key(r)]
        if r["link"] == "digital" and r["channel"] != "none":
            assert r["ber"] == n["ber"] and r["bler"] == n["bler"]  # the same channel noise, bit for bit
        assert r["r1"] == n["r1"]  # retrieval reads the payloads, not the head: the same draws
        changed += r["acc_top1"] != n["acc_top1"]
    assert changed >= 4  # the heads differ


@pytest.mark.slow
def test_equal_energy_per_instance(two_runs):
    rows = [r for r in _rows(two_runs["clean"]) if r["channel"] != "none"]
    for r in rows:
        e_inst = float(r["snr_db"]) + 10 * math.log10(int(r["channel_uses"]))
        assert abs(e_inst - float(r["snr_instance_db"])) < 1e-4
        assert float(r["snr_instance_db"]) in (0.0, 10.0)  # the sweep's values, for every scheme
    conv = {r["snr_db"] for r in rows if r["scheme"] == "conventional" and r["link"] == "analog"}
    cent = {r["snr_db"] for r in rows if r["scheme"] == "centroid" and r["link"] == "analog"}
    # 3 vectors x 8 channel uses vs 1 x 8: the conventional scheme's symbols are 10 log10(3) dB weaker
    assert {round(float(s), 4) for s in conv} == {round(-10 * math.log10(24), 4), round(10 - 10 * math.log10(24), 4)}
    assert {round(float(s), 4) for s in cent} == {round(-10 * math.log10(8), 4), round(10 - 10 * math.log10(8), 4)}
    assert (two_runs["clean"] / "accuracy_vs_snr_instance_analog.png").is_file()


@pytest.mark.slow
def test_compare_overlays_runs_and_never_overwrites_a_users_file(two_runs, tmp_path):
    from PIL import Image

    fig = tmp_path / "both.png"
    res = runner.invoke(app, ["compare", str(two_runs["clean"]), str(two_runs["noisy"]), "--x", "snr_instance_db",
                              "--out", str(fig)])
    assert res.exit_code == 0, res.output + res.stderr
    with Image.open(fig) as im:
        assert im.info["Software"] == "semcom-sim compare" and im.size[0] > 400
    again = runner.invoke(app, ["compare", str(two_runs["clean"]), "--x", "tti", "--out", str(fig)])
    assert again.exit_code == 0  # its own figure may be replaced
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"user data")
    assert "was not written by semcom-sim compare" in refused(["compare", str(two_runs["clean"]), "--out", str(mine)])
    assert mine.read_bytes() == b"user data"
    assert "holds no results.csv" in refused(["compare", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert "no column 'nope'" in refused(["compare", str(two_runs["clean"]), "--metric", "nope",
                                          "--out", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("value,says", [
    ("{start: 5, stop: 0}", "start 5 is above stop 0"),
    ("[0, .inf]", "training SNRs must be finite numbers in dB"),
    ("{start: 0}", "a range is {start, stop} in dB"),
    ("[]", "the training SNR list is empty"),
])
def test_bad_training_snrs_are_one_line(value, says, tiny_raw, write_scenario):
    line = refused(["validate", str(write_scenario(tiny_raw)), "--set", f"receiver.train_snr_db={value}"])
    assert "receiver.train_snr_db" in line and says in line


def test_training_channel_and_draws_are_checked(tiny_raw, write_scenario):
    path = str(write_scenario(tiny_raw))
    line = refused(["validate", path, "--set", "receiver.train_snr_db=0", "--set", "receiver.train_channel=nope"])
    assert "receiver.train_channel" in line and "unknown channel preset 'nope'" in line
    line = refused(["validate", path, "--set", "receiver.train_snr_db=0", "--set", "receiver.train_draws=10000",
                    "--set", "data.limit=null"])
    assert "receiver.train_draws" in line and "over the limit" in line
