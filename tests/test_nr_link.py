"""The nr link: the CRC catches failed blocks, the abstraction's BLER matches decoding, an erased
vector delivers the training mean, and impossible options are refused in one line."""
from __future__ import annotations

import math

import pytest
import torch

from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.links import LINKS, monte_carlo
import semcom_sim.links.nr as nr
import semcom_sim.links.nr_abstraction as tables
from conftest import refused  # noqa: E402  (tests/ is on the path)

T = 4  # 4 values x 4 bits: the smallest TB (24 bits, CRC16, one 40-bit code block): decoding is cheap


@pytest.fixture(autouse=True)
def small_tables(monkeypatch, tmp_path_factory):
    # tables of 200-block batches, at most 5 per point, in a per-session folder: seconds, not minutes
    monkeypatch.setattr(tables, "TABLE_BATCH", 200)
    monkeypatch.setattr(tables, "TABLE_MAX_BATCHES", 5)
    monkeypatch.setattr(tables, "TABLE_ERRORS", 100)
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path_factory.getbasetemp() / "nr-cache"))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _payloads():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(60, 2, T, generator=g)
    test = torch.randn(100, 2, T, generator=g)
    return train, test


def _run(mode: str, snr_db: list[float], draws: int, channel: str = "awgn", seed: int = 3, **options):
    from sionna.phy import config

    train, test = _payloads()
    link = LINKS["nr"].fit(train, LINKS["nr"].Options(mcs_index=5, mode=mode, **options))
    config.seed = seed
    ch = CHANNELS[channel](device="cpu", precision="single",
                           **({} if channel == "awgn" else {"fading": "block"}))
    seen = []
    out = monte_carlo(link, test, ch, snr_db_to_noise_var(torch.tensor(snr_db)), draws,
                      lambda p, _: seen.append(p) or {"n": torch.ones(p.shape[:2])})
    return link, train, test, out, torch.cat(seen, 1)


def test_the_tb_is_the_smallest_standard_allocation_holding_the_payload():
    link = LINKS["nr"].fit(_payloads()[0], LINKS["nr"].Options(mcs_index=5))
    assert (link.qm, link.rate) == (2, 379 / 1024)
    assert link.info_bits == 16 and link.tb_size == 24 and link.cb_size == 40 and link.num_cb == 1
    # the 24-bit floor of TS 38.214 sizes: 16 and 24 bits take the same allocation, 25 a larger one
    assert nr.tb_layout(24, link.qm, link.rate)[0] == link.n_re < nr.tb_layout(25, link.qm, link.rate)[0]
    assert link.channel_uses == LINKS["nr"].cost(link.options, T).uses == 22  # 40 bits in 44: rate <= 0.95


def test_the_crc_flags_every_block_at_low_snr_and_none_at_high_snr():
    link, train, test, out, seen = _run("monte_carlo", [30.0, -10.0], 4)
    assert float(out["bler"][0]) == 0.0 and float(out["ber"][0]) == 0.0
    assert float(out["bler"][1]) == 1.0 and 0.3 < float(out["ber"][1]) < 0.7  # the decoder's bits: near coin flips
    assert out["tb_size"].tolist() == [24.0, 24.0] and out["mcs_index"].tolist() == [5.0, 5.0]
    assert torch.equal(seen[0], link.clean(test).expand_as(seen[0]))
    # erase: every failed vector is the training mean of its position, exactly
    assert torch.equal(seen[1], train.mean(0).expand_as(seen[1]))


def test_use_decoded_delivers_the_wrong_bits_instead_of_the_mean():
    link, train, test, out, seen = _run("monte_carlo", [-10.0], 2, on_crc_failure="use_decoded")
    assert float(out["bler"][0]) == 1.0
    assert not torch.isclose(seen[0], train.mean(0).expand_as(seen[0])).any(-1).all()
    # quantiser cells, as the digital link delivers them
    cells = (seen[0] - link.quantiser.lo) / link.quantiser.step - 0.5
    assert torch.allclose(cells, cells.round(), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("channel,snr_db", [("awgn", 6.0), ("rayleigh", 12.0)])
def test_abstraction_bler_matches_decoding(channel, snr_db):
    """At a mid SNR (BLER about 0.2 to 0.7), 800 blocks each: the two BLERs differ by less than
    four standard deviations of their difference: the binomial spread of both estimates and of the
    table's own point (at least TABLE_BATCH = 200 blocks here)."""
    _, _, _, mc, _ = _run("monte_carlo", [snr_db], 4, channel)
    _, train, _, ab, seen = _run("abstraction", [snr_db], 4, channel)
    p, q = float(mc["bler"][0]), float(ab["bler"][0])
    blocks = 4 * 100 * 2
    sigma = math.sqrt((p * (1 - p) + q * (1 - q)) / blocks + q * (1 - q) / tables.TABLE_BATCH)
    assert 0.1 < p < 0.8, p  # a point on the waterfall, not a trivial one
    assert abs(p - q) < 4 * sigma, (p, q, sigma)
    assert "ber" not in ab  # nothing is decoded: the BER is not known
    # the abstraction's failed blocks are erased too, the others are the quantised payload
    erased = (seen == train.mean(0)).all(-1)
    assert math.isclose(float(erased.double().mean()), q, abs_tol=1e-9)


def test_abstraction_over_a_sinr_per_symbol_slices_the_instances(monkeypatch):
    """Where the SINR varies within a block the channel and the EESM get at most
    ABSTRACTION_SYMBOLS_PER_CALL symbols at a time (instances in slices, or SNR points where each is
    one instance); the failures are those of one call over everything, from the same seed."""
    from sionna.phy import config

    class Varying:  # a deterministic SINR per symbol, its calls recorded
        options: dict = {}
        shapes: list = []

        @staticmethod
        def one_sinr_per_block(**_):
            return False

        @staticmethod
        def iid_sinr_per_symbol(**_):
            return False

        def sinr(self, shape, no, dtype):
            self.shapes.append((shape, no.shape))
            pos = torch.arange(shape[-1], dtype=torch.float64)
            return (1.0 / no.double()).reshape(-1, *[1] * (len(shape) - 1)) * (1.0 + 0.5 * torch.cos(pos))

    link = LINKS["nr"].fit(_payloads()[0], LINKS["nr"].Options(mcs_index=5, mode="abstraction"))
    shape, no = (2, 3, 10, 2, link.n_re), snr_db_to_noise_var(torch.tensor([2.0, 4.0]))
    config.seed = 4
    whole = link._abstract(Varying(), shape, no, torch.float32)
    monkeypatch.setattr(tables, "ABSTRACTION_SYMBOLS_PER_CALL", 4 * 2 * 3 * 2 * link.n_re)  # 4 instances a call
    Varying.shapes = []
    config.seed = 4
    assert torch.equal(link._abstract(Varying(), shape, no, torch.float32), whole)
    assert [s[2] for s, _ in Varying.shapes] == [4, 4, 2] and 0 < whole.double().mean() < 1
    # one instance at each of 10 SNR points (receive_each): slices of the points and of their noise
    Varying.shapes = []
    per_point = snr_db_to_noise_var(torch.linspace(0, 6, 10))
    link._abstract(Varying(), (10, 1, 1, 2, link.n_re), per_point, torch.float32)
    monkeypatch.setattr(tables, "ABSTRACTION_SYMBOLS_PER_CALL", 3 * 2 * link.n_re)
    Varying.shapes = []
    link._abstract(Varying(), (10, 1, 1, 2, link.n_re), per_point, torch.float32)
    assert [(s[0], n[0]) for s, n in Varying.shapes] == [(3, 3), (3, 3), (3, 3), (1, 1)]


@pytest.mark.parametrize("length", [4096, 29_170])
def test_the_eesm_by_law_draws_what_the_eesm_over_every_symbol_gives(length):
    """Over fast Rayleigh fading (an i.i.d. SINR per symbol), 300 blocks of ``length`` symbols at 0, 10,
    20 and 30 dB, MCS 13: the effective SINRs drawn from the law and those of the EESM over each block's
    own symbols agree in mean (within 0.02 dB plus four standard errors) and spread (within 20 %)."""
    from sionna.phy import config

    ch = CHANNELS["rayleigh"](device="cpu", precision="single", fading="fast")
    no = snr_db_to_noise_var(torch.tensor([0.0, 10.0, 20.0, 30.0]))
    shape = (4, 1, 300, 1, length)
    config.seed = 2
    law = 10.0 * tables.eesm_by_law(ch, shape, no, torch.complex64, 1, 13).log10()[:, 0, :, 0]
    exact = 10.0 * tables.effective_sinr(ch, shape, no, torch.float32, 1, 13, by_law=False).log10()[:, 0, :, 0]
    for a, b in zip(law, exact):
        se = math.sqrt((a.var() + b.var()) / a.numel())
        print(f"{length} symbols: mean {float(a.mean()):.3f} / {float(b.mean()):.3f} dB, sd {float(a.std()):.4f} / "
              f"{float(b.std()):.4f}")
        assert abs(float(a.mean() - b.mean())) < 0.02 + 4 * se
        assert 0.8 < float(a.std() / b.std()) < 1.25


def test_the_eesm_refuses_mcs_tables_without_beta_parameters_symbol_by_symbol_and_by_law():
    ch = CHANNELS["rayleigh"](device="cpu", precision="single", fading="fast")
    no = snr_db_to_noise_var(torch.tensor([10.0]))
    for by_law in (False, True):
        with pytest.raises(ValueError, match="no beta parameters for MCS table 3"):
            tables.effective_sinr(ch, (1, 1, 300, 1, 4096), no, torch.float32, 3, 5, by_law=by_law)


def test_abstraction_draws_follow_the_seed():
    a = _run("abstraction", [6.0], 2, seed=7)[3]["bler"]
    b = _run("abstraction", [6.0], 2, seed=7)[3]["bler"]
    c = _run("abstraction", [6.0], 2, seed=8)[3]["bler"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_tables_chain_decodes_in_chunks_what_sionnas_channel_decodes_at_once(monkeypatch):
    """_coded_awgn is CodedAWGNChannelNR's chain with the decoder fed a few blocks at a time: from
    the same seed, a batch gives the same bits and the same decoded bits (on the waterfall, so some
    blocks fail and some pass)."""
    from sionna.phy import config
    from sionna.phy.nr.utils import CodedAWGNChannelNR

    monkeypatch.setattr(tables, "TABLE_DECODE_LLRS", 3 * 420)  # 3 blocks per call: 34 calls for 100
    qm, k, n, ebno = 2, 200, 420, torch.tensor(1.5)
    config.seed = 11
    ours = tables._coded_awgn(qm, k, k / n, 20)(100, ebno)
    config.seed = 11
    theirs = CodedAWGNChannelNR(qm, k, k / n, num_iter_decoder=20, precision="single", device="cpu")(100, ebno)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    failed = (ours[0] != ours[1]).any(-1).float().mean()
    assert 0.05 < failed < 0.95, failed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_tables_chain_on_a_gpu_decides_every_block_as_on_the_cpu():
    """Tables built with the chain on a GPU (scripts/build_bler_tables.py --device cuda) are the CPU's:
    the same draws, and on the waterfall the same block decided in error or not."""
    from sionna.phy import config

    qm, k, n = 4, 1144, 2244
    capacity_db = 10.0 * math.log10(2.0 ** (qm * k / n) - 1.0)
    for above in (0.5, 1.0, 1.5):
        ebno = torch.tensor(capacity_db + above - 10.0 * math.log10(qm * k / n))
        out = []
        for device in ("cpu", "cuda"):
            config.seed = 5
            out.append(tables._coded_awgn(qm, k, k / n, 20, device)(500, ebno))
        (bits, cpu), (gpu_bits, gpu) = out
        assert torch.equal(bits, gpu_bits)
        failed_cpu, failed_gpu = (bits != cpu).any(-1), (bits != gpu).any(-1)
        print(f"+{above} dB: BLER {float(failed_cpu.float().mean()):.3f} (cpu) {float(failed_gpu.float().mean()):.3f} "
              f"(cuda), blocks decided differently {int((failed_cpu != failed_gpu).sum())}, bits differing "
              f"{int((cpu != gpu).sum())}")
        assert torch.equal(failed_cpu, failed_gpu)


def test_a_table_entry_is_computed_once_verified_and_healed(tmp_path, monkeypatch):
    built = []

    def simulate(qm, cb_size, cb_coded_bits, iterations, device):  # the entry's machinery, not Sionna's numbers
        built.append(cb_size)
        return {"snr_db": [0.0, 0.25, 0.5], "bler": [1.0, 0.5, 0.0]}

    monkeypatch.setattr(tables, "simulate_table", simulate)
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path / "no-shipped-tables")
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path))
    tables.bler_table.cache_clear()
    first = tables.bler_table(2, 40, 44, 20)
    tables.bler_table.cache_clear()
    assert torch.equal(tables.bler_table(2, 40, 44, 20).values, first.values) and built == [40]  # read back
    (entry,) = (tmp_path / "nr-bler").glob("*.json")
    entry.write_bytes(entry.read_bytes()[:-5])  # truncated: discarded and rebuilt
    tables.bler_table.cache_clear()
    assert torch.equal(tables.bler_table(2, 40, 44, 20).values, first.values) and built == [40, 40]
    # linear in dB between points, held at the edges
    assert first.bler(torch.tensor([-3.0, 0.125, 0.375, 9.0])).tolist() == [1.0, 0.75, 0.25, 0.0]
    tables.bler_table.cache_clear()


def test_a_table_that_does_not_start_at_bler_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "simulate_table", lambda *a: {"snr_db": [0.0, 0.25], "bler": [0.7, 0.0]})
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path / "no-shipped-tables")
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path))
    tables.bler_table.cache_clear()
    with pytest.raises(ValueError, match="starts at BLER 0.700 < 0.99 at 0.00 dB"):
        tables.bler_table(2, 40, 44, 20)
    tables.bler_table.cache_clear()


# ------------------------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("options,expected", [
    ({"mcs_index": 29}, "mcs_index 29 is outside TS 38.214 MCS table 1 (0..28)"),
    ({"mcs_index": 27, "mcs_table": 4}, "mcs_index 27 is outside TS 38.214 MCS table 4 (0..26)"),
    ({"mode": "abstraction", "on_crc_failure": "use_decoded"}, "on_crc_failure: use_decoded needs mode: monte_carlo"),
    ({"eesm": "symbols"}, "eesm applies to mode: abstraction"),
    ({"mcs_index": 1}, "< 1/5"),
    ({"mcs_index": 5, "bits": 16, "mode": "abstraction", "__dim__": 2048}, "needs more than 42900 resource elements"),
])
def test_impossible_options_are_refused_in_one_line(tiny_raw, write_scenario, tmp_path, options, expected):
    options = dict(options)
    dim = options.pop("__dim__", None)
    if dim:  # a payload that large: the link's check must refuse it, not the budgets
        tiny_raw["embedding_dim"] = dim
        tiny_raw["limits"] = {"memory_gib": 10_000}
    tiny_raw["transmitter"]["links"] = ["analog", {"name": "nr", "options": options}]
    out = tmp_path / "out"
    line = refused(["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert expected in line and "transmitter.links" in line, line
    assert not out.exists()


@pytest.mark.parametrize("mode", ["monte_carlo", "abstraction"])
def test_receive_each_takes_each_instance_at_its_own_snr(mode, tmp_path, monkeypatch):
    """A noise-aware receiver's copies: instance i at its own SNR, alternately 40 dB and -10 dB
    (the abstraction on a step table: BLER 1 below 0 dB, 0 above; its numbers are tested above)."""
    from sionna.phy import config

    monkeypatch.setattr(tables, "simulate_table", lambda *a: {"snr_db": [0.0, 0.25], "bler": [1.0, 0.0]})
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path / "no-shipped-tables")
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path))
    tables.bler_table.cache_clear()
    train, test = _payloads()
    link = LINKS["nr"].fit(train, LINKS["nr"].Options(mcs_index=5, mode=mode))
    config.seed = 4
    snr = torch.tensor([40.0, -10.0] * (test.shape[0] // 2))
    out = link.receive_each(CHANNELS["awgn"](device="cpu", precision="single"), link.send(test),
                            snr_db_to_noise_var(snr))
    assert torch.equal(out[0::2], link.clean(test)[0::2])
    assert torch.equal(out[1::2], train.mean(0).expand_as(out[1::2]))
    tables.bler_table.cache_clear()
