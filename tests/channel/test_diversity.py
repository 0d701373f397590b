"""Receive diversity: the closed-form equaliser is Sionna's lmmse_equalizer for one stream on N
antennas (maximum-ratio combining), and the mean post-equalisation SNR is N * SNR.

Spread over seeds 0-4 (1e4 block coefficient vectors each): E||h||^2 within 0.013 of N = 2 and
0.027 of N = 4; the margins below are 4 times these.
"""
import math

import pytest
import torch
from sionna.phy.mimo import lmmse_equalizer

from semcom_sim.channel import CHANNELS


def _unit_symbols(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)


def _channel(name, seed, **options):
    from sionna.phy import config

    config.seed = seed
    return CHANNELS[name](device="cpu", precision="single", **options)


@pytest.mark.parametrize("name,options", [
    ("rayleigh", {"fading": "block", "num_rx_ant": 2}),
    ("rayleigh", {"fading": "fast", "num_rx_ant": 3}),
    ("rician", {"fading": "block", "num_rx_ant": 4, "k_factor_db": 6.0}),
    ("rayleigh", {"fading": "block", "num_rx_ant": 2, "csi": "estimated", "pilots": 2}),
])
def test_closed_form_equals_sionnas_lmmse_equalizer(name, options):
    """On the channel's own draw: x_u and no_eff equal Sionna's lmmse_equalizer given the h the
    receiver knows and the noise covariance it assumes, (N0 + sigma_e^2) I_N."""
    from sionna.phy import config

    x = _unit_symbols(2, 200, 2, 4, seed=1)  # [S, N, V, L]
    no = torch.tensor([0.5, 0.02])
    channel = _channel(name, 0, **options)
    config.seed = 5
    y, h_rx, no_rx = channel._receive(x, no)
    config.seed = 5
    x_u, no_eff = channel(x, no)
    n = options["num_rx_ant"]
    h_mat = h_rx.expand(*x.shape, n).unsqueeze(-1)  # [..., L, N, K=1]
    s = no_rx.unsqueeze(-1).unsqueeze(-1) * torch.eye(n, dtype=y.dtype)  # [S, 1, 1, 1, N, N]
    x_ref, no_ref = lmmse_equalizer(y, h_mat, s.expand(*x.shape, n, n))
    assert torch.allclose(x_u, x_ref[..., 0], rtol=1e-4, atol=1e-4)
    assert torch.allclose(no_eff.expand(x.shape), no_ref[..., 0], rtol=1e-4, atol=1e-7)
    # the analog link's MMSE estimate: Sionna's unbiased estimate shrunk by 1 / (1 + no_eff)
    config.seed = 5
    z, w = channel.mmse(x, no)
    assert torch.allclose(w * z, x_ref[..., 0] / (1 + no_ref[..., 0]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("name,extra", [("rayleigh", {}), ("rician", {"k_factor_db": 10.0})])
def test_mean_post_equalisation_snr_is_n_times_snr(n, name, extra):
    channel = _channel(name, 7, fading="block", num_rx_ant=n, **extra)
    no = torch.tensor([0.1])  # 10 dB
    _, no_eff = channel(torch.ones(1, 10_000, 1, dtype=torch.complex64), no)
    snr_post = (1.0 / no_eff).double().mean()
    assert float(snr_post) == pytest.approx(n * 10.0, rel=0.05)


def test_diversity_thins_the_deep_fades():
    """P(||h||^2 < 0.1) of Rayleigh: 1 - e^-0.1 = 0.095 for one antenna, Gamma(2, 1): 0.0047 for two."""
    no = torch.tensor([1e-2])
    x = torch.ones(1, 20_000, 1, dtype=torch.complex64)
    fades = []
    for n in (1, 2):
        _, no_eff = _channel("rayleigh", 8, fading="block", num_rx_ant=n)(x, no)
        fades.append(float((no / no_eff < 0.1).double().mean()))
    assert fades[0] == pytest.approx(1 - math.exp(-0.1), abs=0.01)
    assert fades[1] == pytest.approx(1 - math.exp(-0.1) * 1.1, abs=0.002)
