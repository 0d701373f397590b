"""Over-the-air computation (links/aircomp.py) and the receiver_centroid scheme: the received
centroid's error against its closed forms on an AWGN multiple-access channel, truncated inversion
under block Rayleigh fading, estimated CSI against perfect, and the refusals at validation.

Closed forms (docs/guide/aircomp.md), per complex symbol of unit mean energy per device, M devices,
e_c the centroid's mean energy per channel use, N0 the noise variance:

- (b) receiver_centroid / analog, M orthogonal slots, per-slot MMSE x_hat = y / (1 + N0):
  the centroid's error is (n_bar - N0 c) / (1 + N0), E = (N0 / M + N0^2 e_c) / (1 + N0)^2;
- (c) receiver_centroid / aircomp, y = M c + n, c_hat = w y, w = M e_c / (M^2 e_c + N0):
  E = (w M - 1)^2 e_c + w^2 N0 (= e_c N0 / (M^2 e_c + N0) when test and training energies agree).

Per real payload value both are E / (2 s^2), s the link's power normalisation (T even).
"""
from __future__ import annotations

import math

import pytest
import torch

from conftest import refused
from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.links import LINKS, monte_carlo
from semcom_sim.transmitter.schemes import get_scheme

M, T = 3, 32


def _payloads(n_train: int = 400, n_test: int = 1000, seed: int = 0):
    """Unit-norm device vectors [N, M, T] sharing a common part (correlated, as embeddings of one scene)."""
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(n_train + n_test, 1, T, generator=g)
    z = torch.nn.functional.normalize(common + 0.8 * torch.randn(n_train + n_test, M, T, generator=g), dim=-1)
    return z[:n_train], z[n_train:]


def _mse(link, test, channel, no, draws=4):
    """payload_mse as the run measures it: what the head reads (receiver_centroid) against the clean centroid."""
    reads = get_scheme("receiver_centroid").head_reads
    clean = reads(link.clean(test))
    out = monte_carlo(link, test, channel, no, draws,
                      lambda p, _: {"mse": (reads(p) - clean).square().mean((-3, -2, -1))})
    return out


def test_awgn_centroid_error_matches_its_closed_forms_and_aircomp_is_m_times_lower():
    from sionna.phy import config

    config.seed = 3
    train, test = _payloads()
    snr_db = torch.tensor([20.0, 10.0, 0.0])
    no = snr_db_to_noise_var(snr_db).double()
    channel = CHANNELS["awgn"](device="cpu", precision="single")
    analog = LINKS["analog"].fit(train)
    air = LINKS["aircomp"].fit(train)
    assert analog.scale == pytest.approx(air.scale)
    s2 = air.scale ** 2
    e_test = float((test.double().mean(1) * air.scale).square().sum(-1).mean() / (T // 2))
    closed_b = (no / M + no ** 2 * e_test) / (1 + no) ** 2 / (2 * s2)
    w = M * air.centroid_energy / (M ** 2 * air.centroid_energy + no)
    closed_c = ((w * M - 1) ** 2 * e_test + w ** 2 * no) / (2 * s2)
    mse_b = _mse(analog, test, channel, no.float())["mse"].double()
    out_c = _mse(air, test, channel, no.float())
    mse_c = out_c["mse"].double()
    assert torch.allclose(mse_b, closed_b, rtol=0.05), (mse_b, closed_b)
    assert torch.allclose(mse_c, closed_c, rtol=0.05), (mse_c, closed_c)
    # at 20 dB: M times lower within 10 %, in 1/M of the channel uses; every device active under AWGN
    assert float(mse_b[0] / mse_c[0]) == pytest.approx(M, rel=0.10)
    assert analog.instance_uses(M) == M * air.instance_uses(M) == M * T // 2
    assert torch.all(out_c["silent_fraction"] == 0)


@pytest.mark.parametrize("threshold", [0.05, 0.3, 1.0])
def test_block_rayleigh_truncation_silences_the_fraction_1_minus_exp_minus_threshold(threshold):
    from sionna.phy import config

    config.seed = 4
    train, test = _payloads(n_test=500)
    link = LINKS["aircomp"].fit(train, LINKS["aircomp"].Options(threshold=threshold))
    channel = CHANNELS["rayleigh"](fading="block", device="cpu", precision="single")
    out = _mse(link, test, channel, snr_db_to_noise_var(torch.tensor([10.0, 30.0])), draws=2)
    # 500 x 2 draws x 3 devices = 3,000 coefficients per point: binomial spread under 1 point
    expected = 1.0 - math.exp(-threshold)
    assert torch.allclose(out["silent_fraction"].double(), torch.tensor(expected, dtype=torch.float64), atol=0.02)
    # rho = 1 / E1(threshold): the mean inversion energy per device and channel use is 1
    from scipy.special import exp1

    assert link.rho(channel, test) == pytest.approx(1.0 / exp1(threshold), rel=0.01)


def test_estimated_csi_is_never_better_than_perfect_csi():
    """Top-1 of a linear head reading the received centroid, and payload_mse, block Rayleigh: the
    devices' LS estimate from 1 pilot misaligns the sum; estimated top-1 never exceeds perfect
    top-1 beyond two binomial standard deviations (and its error is never lower)."""
    from sionna.phy import config

    from semcom_sim.receiver.heads import fit_linear_head, topk_accuracy

    g = torch.Generator().manual_seed(1)
    classes, n = 10, 1500
    protos = torch.nn.functional.normalize(torch.randn(classes, 1, T, generator=g), dim=-1)
    labels = torch.randint(0, classes, (n,), generator=g)
    z = torch.nn.functional.normalize(protos[labels] + 0.25 * torch.randn(n, M, T, generator=g), dim=-1)
    train, test, y_train, y_test = z[:700], z[700:], labels[:700], labels[700:]
    head = fit_linear_head(train.mean(1), y_train, 1e-3)
    no = snr_db_to_noise_var(torch.tensor([-5.0, 0.0, 5.0, 10.0, 20.0]))
    results = {}
    for csi, extra in (("perfect", {}), ("estimated", {"pilots": 1})):
        config.seed = 7
        link = LINKS["aircomp"].fit(train, LINKS["aircomp"].Options(csi=csi, **extra))
        channel = CHANNELS["rayleigh"](fading="block", device="cpu", precision="single")
        clean = test.mean(1, keepdim=True)

        def measure(p, _draws):
            return {"top1": topk_accuracy(head.logits(p[..., 0, :]), y_test, 1),
                    "mse": (p - clean).square().mean((-3, -2, -1))}

        results[csi] = monte_carlo(link, test, channel, no, 4, measure)
    assert torch.all(results["estimated"]["pilot_uses"] == 1) and "pilot_uses" not in results["perfect"]
    p = results["perfect"]["top1"].double()
    spread = 2 * (p * (1 - p) / (test.shape[0] * 4)).sqrt() + 1e-9
    assert torch.all(results["estimated"]["top1"] <= p + spread), (results["estimated"]["top1"], p)
    assert torch.all(results["estimated"]["mse"] >= results["perfect"]["mse"] * 0.98)
    # the misalignment is visible where the pilots are noisy, not hidden in the spread
    assert float(results["estimated"]["mse"][1]) > 1.2 * float(results["perfect"]["mse"][1])


# ------------------------------------------------------------------------------------------- refusals

def _aircomp_scenario(tiny_raw, **options):
    raw = tiny_raw
    raw["transmitter"]["schemes"] = ["receiver_centroid"]
    raw["transmitter"]["links"] = ["analog", {"name": "aircomp", "options": options}]
    raw["channel"]["presets"] = ["awgn", "rayleigh_block"]
    return raw


@pytest.mark.parametrize("change,expected", [
    (lambda r: r["transmitter"]["links"][1]["options"].update(threshold=-0.1), "threshold"),
    (lambda r: r["transmitter"]["links"][1]["options"].update(energy_limit=0), "energy_limit"),
    (lambda r: r["transmitter"]["links"][1]["options"].update(threshold=0), "infinite mean energy"),
    # one modality: the schema refuses it for every scenario; one vector per instance: aircomp does
    (lambda r: r["data"].update(modalities=["image"]) or r["training"].update(gap_loss={"anchor": "image"}),
     "at least two modalities"),
    (lambda r: r["transmitter"].update(schemes=["centroid"]), "several devices"),
    (lambda r: r["channel"].update(presets=["awgn", "tdl_c"]), "multiple-access"),
    (lambda r: r["channel"].update(presets=["rayleigh_block_2rx"]), "receive antennas"),
    (lambda r: r["transmitter"].update(schemes=["conventional", "centroid_residual"]), "receiver_centroid"),
    (lambda r: r["transmitter"]["links"][1]["options"].update(pilots=2), "pilots"),
])
def test_bad_aircomp_input_is_one_line_at_validation(tiny_raw, write_scenario, change, expected):
    raw = _aircomp_scenario(tiny_raw)
    change(raw)
    line = refused(["validate", str(write_scenario(raw))])
    assert expected in line and "scenario.yaml" in line, line


def test_a_good_aircomp_scenario_validates(tiny_raw, write_scenario):
    from typer.testing import CliRunner

    from semcom_sim.cli import app

    raw = _aircomp_scenario(tiny_raw, threshold=0.2, energy_limit=4.0)
    res = CliRunner().invoke(app, ["validate", str(write_scenario(raw))])
    assert res.exit_code == 0, res.output


def test_the_plan_pairs_aircomp_only_with_a_scheme_reading_the_centroid(tiny_raw):
    from semcom_sim.scenario import Scenario
    from semcom_sim.transmitter.plan import transmissions

    raw = _aircomp_scenario(tiny_raw)
    raw["transmitter"]["schemes"] = ["conventional", "receiver_centroid", "centroid"]
    raw["transmitter"]["rfs_keep"] = [1.0]
    pairs = [(tx.scheme, tx.link.label) for tx in transmissions(Scenario.model_validate(raw))]
    assert pairs == [("conventional", "analog"), ("receiver_centroid", "analog"), ("receiver_centroid", "aircomp"),
                     ("centroid", "analog")]


@pytest.mark.slow
def test_a_run_reports_payload_mse_and_aircomp_channel_uses(tiny_raw, write_scenario, tmp_path):
    """The tiny scenario with the four systems of scenarios/sensors.yaml: payload_mse is 0 on the
    noiseless rows and falls with SNR; aircomp takes 1/M of receiver_centroid/analog's channel uses
    at the same instance energy and reads the centroid with a lower error."""
    from typer.testing import CliRunner

    from semcom_sim.cli import app
    from semcom_sim.report import read_results

    raw = _aircomp_scenario(tiny_raw)
    raw["transmitter"]["schemes"] = ["conventional", "receiver_centroid", "centroid"]
    raw["transmitter"]["rfs_keep"] = [1.0]
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(write_scenario(raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_results(out / "results.csv")
    by = {(r["scheme"], r["link"], r["channel"], r["snr_db"]): r for r in rows}
    assert all(r["payload_mse"] != "" for r in rows)  # every row, the noiseless ones too
    assert all(r["payload_mse"] == 0.0 for r in rows if r["channel"] == "none")
    b, c = by[("receiver_centroid", "analog", "awgn", 20.0)], by[("receiver_centroid", "aircomp", "awgn", 20.0)]
    assert b["channel_uses"] == 3 * c["channel_uses"] == 24 and b["snr_instance_db"] == c["snr_instance_db"]
    assert b["payload_mse"] / c["payload_mse"] == pytest.approx(3.0, rel=0.10)
    assert c["silent_fraction"] == 0.0 and b["silent_fraction"] == ""
    for key in ("conventional", "analog"), ("receiver_centroid", "aircomp"):
        assert by[(*key, "awgn", 0.0)]["payload_mse"] > by[(*key, "awgn", 20.0)]["payload_mse"] > 0


@pytest.mark.parametrize("csi", ["perfect", "estimated"])
def test_noise_aware_copies_through_aircomp_are_the_centroid(csi):
    """receive_each (a noise-aware receiver's training copies): one centroid per instance, clean at
    60 dB, noisy at 0 dB."""
    import numpy as np
    from sionna.phy import config

    from semcom_sim.receiver.noise_aware import noisy_copies

    config.seed = 2
    train, _ = _payloads(n_train=200, n_test=1)
    link = LINKS["aircomp"].fit(train, LINKS["aircomp"].Options(csi=csi))
    channel = CHANNELS["rician"](k_factor_db=10.0, fading="block", device="cpu", precision="single")
    snr = np.repeat([60.0, 0.0], 200)  # copy 0 at 60 dB, copy 1 at 0 dB
    copies = noisy_copies(link, train, channel, snr, 2, False)
    assert copies.shape == (400, 1, T)
    err = (copies - train.mean(1, keepdim=True).repeat(2, 1, 1)).square().mean((1, 2))
    # Rician K = 10 dB: a few coefficients fall below the threshold (that device's term is missing)
    assert float(err[:200].median()) < 1e-4 < float(err[200:].median())
