import math

import numpy as np
import pytest
import torch
from scipy.special import erfc
from sionna.phy import config
from sionna.phy.mapping import Demapper, Mapper

from semcom_sim.channel import build_channel, snr_db_to_noise_var
from semcom_sim.scenario import load_channel_preset
from semcom_sim.channel.capacity import awgn_delivery, rayleigh_block_delivery, rayleigh_ergodic_delivery
from semcom_sim.links import monte_carlo
from semcom_sim.links.digital import Digital, DigitalOptions


def _fit(payload, **options) -> Digital:
    return Digital.fit(payload, DigitalOptions(**options))


def _build(payload_len=16, lo=-1.0, hi=1.0, **options) -> Digital:
    return Digital(payload_len, lo, hi, DigitalOptions(**options))


def _channel(name, seed):
    config.seed = seed
    return build_channel(load_channel_preset(name), "cpu", "single")


def _transmit(link, payload, channel, no, draws):
    """The digital link of the registry, over ``draws`` draws at once: (payload_hat, counts, rates)."""
    payload_hat, counts = link.receive(channel, link.send(payload), no, draws)
    return payload_hat, counts, link.error_rates(counts, draws, payload.shape)


def _db(x):
    return 10 ** (x.double() / 10)


def _payload(n, v, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, v, t, generator=g), dim=-1)


def _q(x):
    return 0.5 * erfc(x / math.sqrt(2))


def _ber_theory(bits_per_symbol, es_no_db):
    """Gray-labelled QPSK and 16-QAM over AWGN, Es/N0 = log2(M) Eb/N0.

    QPSK: Q(sqrt(2 Eb/N0)) = Q(sqrt(Es/N0)).
    16-QAM (exact for Gray labels, Cho & Yoon 2002), a = sqrt(4/5 Eb/N0) = sqrt(Es/(5 N0)):
    (3 Q(a) + 2 Q(3a) - Q(5a)) / 4, whose first term is the usual (3/4) Q(sqrt(4/5 Eb/N0)).
    """
    es_no = 10 ** (es_no_db / 10)
    if bits_per_symbol == 2:
        return _q(math.sqrt(es_no))
    a = math.sqrt(es_no / 5)
    return (3 * _q(a) + 2 * _q(3 * a) - _q(5 * a)) / 4


@pytest.mark.parametrize("bits_per_symbol,es_no_db", [(2, 9.8), (4, 16.5)])
def test_uncoded_qam_ber_over_awgn_matches_theory(bits_per_symbol, es_no_db):
    num_bits = 1_000_000  # ~1000 errors at BER 1e-3: 3% standard deviation
    g = torch.Generator().manual_seed(bits_per_symbol)
    b = torch.randint(0, 2, (1, num_bits), generator=g).float()
    x = Mapper("qam", bits_per_symbol)(b)
    x_u, no_eff = _channel("awgn", 7)(x, snr_db_to_noise_var(torch.tensor([es_no_db])))
    b_hat = (Demapper("app", "qam", bits_per_symbol)(x_u, no_eff) > 0).float()  # logits: > 0 means 1
    ber = float((b_hat != b).float().mean())
    theory = _ber_theory(bits_per_symbol, es_no_db)
    assert 5e-4 < theory < 2e-3
    assert abs(ber / theory - 1) < 0.10


def test_quantiser_round_trip_within_half_a_step_and_msb_first():
    train = _payload(200, 3, 16)
    link = _fit(train, bits=4, code_rate=0.5, bits_per_symbol=2)
    assert (link.lo, link.hi) == (float(train.min()), float(train.max()))
    x = torch.cat([train.flatten(), torch.tensor([link.lo, link.hi])])
    err = (link.dequantize(link.quantize(x), x.dtype) - x).abs()
    assert float(err.max()) <= link.step / 2 * (1 + 1e-5)
    assert float(err.max()) > 0.4 * link.step  # the bound is attained, not loose
    codes = link.quantize(train)
    assert codes.dtype == torch.int64 and int(codes.min()) == 0 and int(codes.max()) == 15
    # values outside the training range go to the edge cells
    assert link.quantize(torch.tensor([link.lo - 1, link.hi + 1])).tolist() == [0, 15]
    assert link.to_bits(torch.tensor([[8, 1]])).tolist() == [[1, 0, 0, 0, 0, 0, 0, 1]]
    assert torch.equal(link.from_bits(link.to_bits(codes)), codes)


def test_noiseless_link_returns_the_quantised_payload():
    payload = _payload(8, 3, 16)
    link = _fit(payload, bits=4, code_rate=0.5, bits_per_symbol=4)
    assert (link.info_bits, link.coded_bits, link.channel_uses) == (64, 128, 32)
    no = snr_db_to_noise_var(torch.tensor([60.0, 60.0]))
    payload_hat, counts, rates = _transmit(link, payload, _channel("awgn", 3), no, draws=2)
    assert payload_hat.shape == (2, 2, 8, 3, 16)
    expected = link.dequantize(link.quantize(payload), payload.dtype)
    assert torch.equal(payload_hat, expected.expand_as(payload_hat))
    assert torch.equal(link.clean(payload), expected)
    assert counts["bit_errors"].tolist() == [0, 0] and counts["block_errors"].tolist() == [0, 0]
    assert rates["ber"].tolist() == [0.0, 0.0] and rates["bler"].tolist() == [0.0, 0.0]


def test_monte_carlo_averages_the_metric_over_chunks_of_draws(monkeypatch):
    """The one loop for every link: draws in chunks (forced small here) sum to the same counts."""
    import semcom_sim.links.digital as dig

    payload = _payload(40, 1, 32, seed=1)
    link = _fit(payload, bits=4, code_rate=0.5, bits_per_symbol=2)
    no = snr_db_to_noise_var(torch.tensor([0.0, 3.0]))
    expected = link.dequantize(link.quantize(payload), payload.dtype)

    def wrong_vectors(p_hat, _draws):  # [S, r]: the share of vectors decoded wrong, per draw
        return {"wrong": (p_hat != expected).any(-1).double().mean((-2, -1))}

    monkeypatch.setattr(dig, "DEMAPPER_ENTRIES_PER_CHUNK", 1)  # one draw per chunk
    out = monte_carlo(link, payload, _channel("awgn", 5), no, 3, wrong_vectors)
    # a vector is wrong iff its codeword is: the measured share is the BLER
    assert torch.allclose(out["wrong"].float(), out["bler"].float())
    assert float(out["bler"][0]) > float(out["bler"][1])


def test_coded_ber_falls_with_snr_to_zero_and_beats_uncoded():
    payload = _payload(60, 1, 32, seed=1)
    link = _fit(payload, bits=4, code_rate=0.5, bits_per_symbol=2)  # k = 128, n = 256
    snr_db = torch.arange(-2.0, 9.0, 2.0)
    payload_hat, counts, rates = _transmit(link, payload, _channel("awgn", 11), snr_db_to_noise_var(snr_db), 1)
    ber = rates["ber"].tolist()
    assert ber[0] > 0.1  # below the code's threshold
    assert all(a > b for a, b in zip(ber, ber[1:]) if a > 0)
    assert ber[-2:] == [0.0, 0.0] and rates["bler"][-1] == 0
    # rate 1/2 on QPSK carries one information bit per symbol: Eb/N0 = Es/N0. At 2 dB the coded BER
    # spread over channel seeds 0-11 from 0.05 to 0.38 x uncoded QPSK's (60 codewords, one draw)
    for s, b in zip(snr_db.tolist(), ber):
        if s >= 2:
            assert b < 0.5 * _ber_theory(2, s + 10 * math.log10(2))
    # a codeword is in error iff its de-quantised vector differs from the quantised payload
    expected = link.dequantize(link.quantize(payload), payload.dtype)
    wrong_vectors = (payload_hat != expected).any(-1).sum((1, 2, 3))
    assert torch.equal(wrong_vectors, counts["block_errors"])
    assert bool((counts["block_errors"] <= counts["bit_errors"]).all())
    assert bool((counts["bit_errors"] <= counts["block_errors"] * link.info_bits).all())


def test_capacity_awgn_threshold_is_exact_at_the_boundary():
    # 32 bits in 32 uses need log2(1 + SNR) >= 1: SNR = 1 = 0 dB exactly
    p = awgn_delivery(32, 32, _db(torch.tensor([-1e-9, 0.0, 1e-9], dtype=torch.float64)))
    assert p.tolist() == [0.0, 1.0, 1.0]
    # 64 bits in 32 uses: SNR = 3
    edge = 10 * math.log10(3)
    p = awgn_delivery(64, 32, _db(torch.tensor([edge - 1e-9, edge + 1e-9], dtype=torch.float64)))
    assert p.tolist() == [0.0, 1.0]


def test_capacity_block_outage_matches_monte_carlo():
    info_bits, uses = 256, 128  # 2 bits per channel use
    snr_db = torch.tensor([0.0, 5.0, 10.0, 15.0, 20.0, 30.0])
    p = rayleigh_block_delivery(info_bits, uses, _db(snr_db))
    gain = torch.empty(100_000, dtype=torch.float64).exponential_(generator=torch.Generator().manual_seed(0))
    snr = 10 ** (snr_db.double() / 10)
    mc = (info_bits <= uses * torch.log2(1 + gain[:, None] * snr)).double().mean(0)
    assert torch.allclose(p.double(), mc, atol=0.01)
    assert bool((p[1:] > p[:-1]).all()) and 0.04 < float(p[0]) < 0.06 and float(p[-1]) > 0.99


def test_capacity_fast_fading_uses_ergodic_capacity():
    info_bits, uses = 256, 128
    snr_db = torch.arange(0.0, 16.0, 1.0)
    p = rayleigh_ergodic_delivery(info_bits, uses, _db(snr_db))
    gain = np.random.default_rng(0).exponential(size=(400_000, 1))
    ergodic = np.log2(1 + gain * 10 ** (snr_db.numpy() / 10)).mean(0)
    # Monte-Carlo ergodic capacity agrees away from the threshold (~6.3 dB at 2 bit/use)
    clear = np.abs(ergodic - info_bits / uses) > 0.02
    assert np.array_equal(p.numpy()[clear], (info_bits / uses <= ergodic[clear]).astype(np.float64))
    # fading costs SNR: the ergodic threshold lies above the AWGN one (SNR = 3, 4.77 dB)
    awgn = awgn_delivery(info_bits, uses, _db(snr_db))
    assert float(awgn[5]) == 1.0 and float(p[6]) == 0.0 and float(p[7]) == 1.0


@pytest.mark.parametrize("kwargs,match", [
    ({"payload_len": 2, "bits": 4}, r"k = payload_len \* bits = 2 \* 4 = 8 .* 12 <= k <= 8448"),
    ({"payload_len": 1024, "bits": 16}, r"16384 information bits .* k <= 8448"),
    ({"code_rate": 0.99}, r"5G LDPC supports rates in \[0.2, 0.95\]"),
    ({"code_rate": 0.1}, r"k/n = 64/640 = 0.100"),
    ({"code_rate": 0.0}, r"code_rate\n  Input should be greater than 0"),
    ({"bits_per_symbol": 3}, r"bits_per_symbol\n  Value error, must be even"),
    ({"payload_len": 1000, "code_rate": 0.3}, r"no 5G LDPC code with k=4000, n=13334 .*BG1"),
    ({"lo": 1.0, "hi": 1.0}, r"quantiser range is empty"),
])
def test_impossible_configurations_raise(kwargs, match):
    base = dict(payload_len=16, bits=4, lo=-1.0, hi=1.0, code_rate=0.5, bits_per_symbol=2, ldpc_iterations=20)
    with pytest.raises(ValueError, match=match):
        _build(**{**base, **kwargs})


def test_encode_rejects_a_payload_of_another_length():
    link = _build(16, -1.0, 1.0, bits=4, code_rate=0.5, bits_per_symbol=2)
    with pytest.raises(ValueError, match="16"):
        link.encode(_payload(2, 1, 8))
