"""The post-equaliser SINR the nr link's abstraction reads: one symbol per vector where the channel
has one SINR per vector (AWGN, block fading), every symbol otherwise, with the right distribution."""
import pytest
import torch

from semcom_sim.channel import CHANNELS

NO = torch.tensor([0.5, 0.1])


def _channel(name: str, **options):
    from sionna.phy import config

    config.seed = 5
    return CHANNELS[name](device="cpu", precision="single", **options)


@pytest.mark.parametrize("name,options", [("awgn", {}), ("rayleigh", {"fading": "block"}),
                                          ("rayleigh", {"fading": "block", "num_rx_ant": 2}),
                                          ("rayleigh", {"fading": "block", "csi": "estimated", "pilots": 4}),
                                          ("rician", {"k_factor_db": 10.0, "fading": "block"})])
def test_one_sinr_per_vector_takes_one_symbol_per_vector(name, options):
    ch = _channel(name, **options)
    assert type(ch).one_sinr_per_block(**options)
    # 2 x 4000 x 3 vectors of 10^7 symbols: 2.4e11 symbols (2 TB) were every symbol pushed through
    sinr = ch.sinr((2, 4000, 3, 10**7), NO, torch.complex64)
    assert sinr.dtype == torch.float64 and sinr.shape[-1] == 1 and sinr.numel() <= 2 * 4000 * 3


def test_the_sinr_has_the_channels_distribution():
    awgn = _channel("awgn").sinr((2, 100, 50), NO, torch.complex64)
    assert torch.allclose(awgn.broadcast_to(2, 100, 1), (1 / NO).double().reshape(2, 1, 1).expand(2, 100, 1))
    block = _channel("rayleigh", fading="block").sinr((2, 20_000, 50), NO, torch.complex64)  # |h|^2 / N0, |h|^2 ~ Exp(1)
    mean = block.mean((1, 2)) * NO.double()
    assert block.shape == (2, 20_000, 1) and torch.allclose(mean, torch.ones(2, dtype=torch.float64), atol=0.03), mean
    fast = _channel("rayleigh", fading="fast")
    assert not type(fast).one_sinr_per_block(**fast.options)
    sinr = fast.sinr((2, 10, 5000), NO, torch.complex64)
    assert sinr.shape == (2, 10, 5000) and sinr[0, 0].std() > 0  # a SINR per symbol: EESM maps it
    assert torch.allclose(sinr.mean((1, 2)) * NO.double(), torch.ones(2, dtype=torch.float64), atol=0.03)
    # two receive antennas, maximum-ratio combined: ||h||^2 ~ Gamma(2, 1), mean 2
    two = _channel("rayleigh", fading="fast", num_rx_ant=2).sinr((2, 10, 5000), NO, torch.complex64)
    assert torch.allclose(two.mean((1, 2)) * NO.double(), torch.full((2,), 2.0, dtype=torch.float64), atol=0.06)
    # the SINR of the equaliser's own output, 1 / no_eff, has the same law (means within 3 %)
    _, no_eff = _channel("rayleigh", fading="fast").__call__(torch.zeros(2, 10, 5000, dtype=torch.complex64), NO)
    assert torch.allclose((1 / no_eff.double()).mean((1, 2)) * NO.double(), torch.ones(2, dtype=torch.float64), atol=0.03)


@pytest.mark.parametrize("name,options,iid", [("awgn", {}, False), ("rayleigh", {"fading": "block"}, False),
                                              ("rayleigh", {"fading": "fast"}, True),
                                              ("rayleigh", {"fading": "fast", "num_rx_ant": 2}, True),
                                              ("rician", {"k_factor_db": 10.0, "fading": "fast"}, True),
                                              ("tdl", {}, False)])
def test_only_fast_flat_fading_gives_iid_sinrs_per_symbol(name, options, iid):
    """What lets the nr abstraction draw a long block's EESM from the SINRs' law (nr_abstraction.eesm_by_law):
    independent symbols; block fading has one SINR per block, TDL's OFDM subcarriers are correlated."""
    assert CHANNELS[name].iid_sinr_per_symbol(**options) is iid
    if iid:  # independent: the SINRs of neighbouring symbols are uncorrelated
        s = _channel(name, **options).sinr((1, 1, 200_000), NO[:1], torch.complex64)[0, 0]
        assert abs(float(torch.corrcoef(torch.stack([s[:-1], s[1:]]))[0, 1])) < 0.015
