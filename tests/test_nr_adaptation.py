"""The nr link's bler_target (link adaptation): the MCS rises with the SNR, the channel uses of a
row fall as it does, the realised AWGN BLER stays at the target, the pipeline groups the SNR points
by the MCS chosen for them (noise-aware receivers included), and bad input is refused in one line.

The tables here are synthetic (a logistic waterfall 1.5 dB above the capacity SNR of each code
block's own rate, 0.7 dB wide, on the real tables' grid): the rule reads whatever table the link
holds, and Sionna's simulated tables take minutes each on a shared CPU (docs/guide/nr.md has the
measured ones)."""
from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.cli import app
from semcom_sim.links import LINKS, monte_carlo
from semcom_sim.links.nr_sizes import candidates
from semcom_sim.receiver.noise_aware import noisy_copies
from semcom_sim.report import read_results
import semcom_sim.links.nr_abstraction as tables
from conftest import refused  # noqa: E402  (tests/ is on the path)

T, TARGET = 16, 0.1  # 16 values x 4 bits: 64-bit TBs, one code block; the MCSs differ in allocation
GRID = [-6.0 + 1.5 * i for i in range(21)]  # -6 .. 24 dB


def _waterfall(qm, cb_size, cb_coded_bits, iterations, device="cpu"):
    capacity = 10.0 * math.log10(2.0 ** (qm * cb_size / cb_coded_bits) - 1.0)
    snr = [capacity - 4.0 + 0.25 * i for i in range(57)]
    return {"snr_db": snr, "bler": [1.0 / (1.0 + math.exp((s - capacity - 1.5) / 0.7 * 4.0)) for s in snr]}


@pytest.fixture(autouse=True)
def synthetic_tables(monkeypatch, tmp_path):
    monkeypatch.setattr(tables, "simulate_table", _waterfall)
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path / "no-shipped-tables")  # the synthetic ones only
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path / "nr-cache"))
    tables.bler_table.cache_clear()
    yield
    tables.bler_table.cache_clear()


def _link(**options):
    g = torch.Generator().manual_seed(0)
    train = torch.randn(60, 2, T, generator=g)
    return LINKS["nr"].fit(train, LINKS["nr"].Options(bler_target=TARGET, mode="abstraction", **options)), train


@pytest.mark.parametrize("per_instance", [False, True])
def test_the_mcs_rises_with_the_snr_and_the_channel_uses_fall(per_instance):
    link, _ = _link()
    grid = [s + 20.0 * per_instance for s in GRID]  # E_inst/N0 of 2 x 15 to 2 x 170 uses: 15 to 25 dB more
    chosen = link.at_snr(grid, per_instance, 2)
    mcs = [lk.mcs_index for lk in chosen]
    assert mcs == sorted(mcs) and (mcs[0], mcs[-1]) == (2, 24) == (candidates(link.options, T)[0], candidates(link.options, T)[-1]), mcs
    uses = [lk.instance_uses(2) for lk in chosen]
    assert uses == sorted(uses, reverse=True) and uses[0] > 4 * uses[-1], uses
    # the bisection's answer is the linear scan's: the highest MCS meeting the target, at its own SNR
    for snr, lk in zip(grid, chosen):
        def bler(m):
            at = link.with_mcs(m)
            return float(at.tb_bler(torch.tensor([snr - (10 * math.log10(2 * at.channel_uses) if per_instance
                                                       else 0.0)], dtype=torch.float64)))
        meeting = [m for m in candidates(link.options, T) if bler(m) <= TARGET]
        assert lk.mcs_index == (meeting[-1] if meeting else candidates(link.options, T)[0])
    # one object per MCS: the pipeline groups the SNR points by it
    assert len({id(lk) for lk in chosen}) == len(set(mcs))


def test_the_realised_awgn_bler_is_at_most_the_target():
    """Abstraction mode over AWGN, 100 x 2 blocks x 10 draws per point: at most the target plus three
    binomial standard deviations (0.02), where the lowest MCS meets it at all."""
    from sionna.phy import config

    link, _ = _link()
    test = torch.randn(100, 2, T, generator=torch.Generator().manual_seed(1))
    config.seed = 5
    channel = CHANNELS["awgn"](device="cpu", precision="single")
    lowest = candidates(link.options, T)[0]
    for snr, lk in zip(GRID, link.at_snr(GRID, False, 2)):
        out = monte_carlo(lk, test, channel, snr_db_to_noise_var(torch.tensor([snr])), 10,
                          lambda p, _: {"n": torch.ones(p.shape[:2])})
        bler = float(out["bler"][0])
        assert float(out["mcs_index"][0]) == lk.mcs_index
        if lk.mcs_index > lowest or bler < 0.5:
            assert bler <= TARGET + 3 * math.sqrt(TARGET * (1 - TARGET) / 2000), (snr, lk.mcs_index, bler)


def test_noise_aware_copies_cross_the_mcs_their_snr_chooses():
    from sionna.phy import config

    link, train = _link()
    config.seed = 2
    snr = torch.tensor([40.0, -20.0, 10.0] * 20, dtype=torch.float64).numpy()
    out = noisy_copies(link, train, CHANNELS["awgn"](device="cpu", precision="single"), snr, 1, False)
    assert torch.equal(out[0::3], link.clean(train)[0::3])  # 40 dB: the highest MCS delivers
    assert torch.equal(out[1::3], train.mean(0).expand_as(out[1::3]))  # -20 dB: every block erased
    assert len({lk.mcs_index for lk in link.at_snr(snr.tolist(), False, 2)}) == 3


def test_a_run_groups_the_snr_points_by_their_mcs(tiny_raw, write_scenario, tmp_path):
    tiny_raw["transmitter"] = {"schemes": ["centroid"], "rfs_keep": [1.0],
                               "links": [{"name": "nr", "options": {"bler_target": TARGET, "mode": "abstraction"}}]}
    tiny_raw["channel"] = {"presets": ["awgn", "rayleigh_block"], "snr_db": [5.0, 15.0, 25.0, 35.0], "mc_draws": 2,
                           "snr_reference": "instance"}
    tiny_raw["receiver"] = {"train_snr_db": {"start": -5.0, "stop": 25.0}, "train_draws": 2}
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_results(out / "results.csv")
    for channel in ("awgn", "rayleigh_block"):
        sel = [r for r in rows if r["channel"] == channel]
        assert [r["snr_instance_db"] for r in sel] == [5.0, 15.0, 25.0, 35.0]
        mcs = [r["mcs_index"] for r in sel]
        assert mcs == sorted(mcs) and len(set(mcs)) >= 3, mcs
        assert [r["channel_uses"] for r in sel] == sorted((r["channel_uses"] for r in sel), reverse=True)
        for r in sel:  # each row its own link's uses: E_inst/N0 = per-symbol SNR + 10 log10(uses)
            assert math.isclose(r["snr_instance_db"] - r["snr_db"], 10 * math.log10(r["channel_uses"]), abs_tol=1e-3)  # results.csv rounds
            assert r["bits"] == 16 * 4
    noiseless = next(r for r in rows if r["channel"] == "none")
    assert noiseless["mcs_index"] == "" and noiseless["channel_uses"] == min(r["channel_uses"] for r in rows)


# ------------------------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("options,expected", [
    ({"bler_target": 0.0}, "bler_target"),
    ({"bler_target": 1.0}, "bler_target"),
    ({"bler_target": 0.1, "mcs_index": 5}, "give mcs_index or bler_target, not both"),
    ({"bler_target": 0.1, "mode": "abstraction", "on_crc_failure": "use_decoded"},
     "on_crc_failure: use_decoded needs mode: monte_carlo"),
    ({"bler_target": 0.1, "bits": 16, "mode": "abstraction", "__dim__": 16384},
     "bler_target: no MCS of table 1 can carry the payload; at its highest, 28: a transport block of 262144 bits"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_adaptation_options_are_refused_in_one_line(tiny_raw, write_scenario, tmp_path, options, expected, command):
    options = dict(options)
    dim = options.pop("__dim__", None)
    if dim:
        tiny_raw["embedding_dim"] = dim
        tiny_raw["limits"] = {"memory_gib": 10_000}
    tiny_raw["transmitter"]["links"] = ["analog", {"name": "nr", "options": options}]
    out = tmp_path / "out"
    line = refused([command, str(write_scenario(tiny_raw))] + (["--out", str(out)] if command == "run" else []))
    assert expected in line and "transmitter.links" in line, line
    assert not out.exists()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_scheme_no_link_carries_is_refused_not_left_out(tiny_raw, write_scenario, tmp_path, command):
    # the plan would drop media from an nr link with bler_target: the scenario is refused instead
    tiny_raw["transmitter"]["schemes"] = ["conventional", "media"]
    tiny_raw["transmitter"]["links"] = [{"name": "nr", "options": {"bler_target": 0.1}}]
    out = tmp_path / "out"
    line = refused([command, str(write_scenario(tiny_raw))] + (["--out", str(out)] if command == "run" else []))
    assert "transmitter.schemes.1: no link of the scenario carries it" in line and "bler_target" in line, line
    assert not out.exists()
