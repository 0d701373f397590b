"""Rician flat fading: its limits (Rayleigh, AWGN), unit power for every K, and Sionna's draws.

Spread over seeds 0-4 (1e4 block coefficients each, scratch script, not kept): E|h|^2 within 0.011
of 1 at K = -40 dB and within 0.005 at K = 10 dB; P(|h|^2 < 0.1) 0.092-0.095 at K = -40 dB
(exponential: 0.0952); the standard deviation of |h| 0.0070-0.0071 at K = 40 dB. The margins below
are 3-5 times these.
"""
import math

import pytest
import torch

from semcom_sim.channel import CHANNELS


def _gains(seed: int, count: int = 10_000, **options) -> torch.Tensor:
    """|h|^2 of ``count`` block coefficients, read back from the equaliser: N0 / no_eff."""
    from sionna.phy import config

    config.seed = seed
    channel = CHANNELS["rician"](device="cpu", precision="single", fading="block", **options)
    no = torch.tensor([1e-2])
    _, no_eff = channel(torch.ones(1, count, 1, dtype=torch.complex64), no)
    return (no / no_eff).flatten().double()


def test_k_to_minus_infinity_is_rayleigh():
    gain = _gains(1, k_factor_db=-40.0)
    assert abs(float(gain.mean()) - 1.0) < 0.04  # E|h|^2 = 1
    # |h|^2 is exponential: its CDF at three points, and its variance (1)
    for t in (0.1, 1.0, 3.0):
        assert abs(float((gain < t).double().mean()) - (1 - math.exp(-t))) < 0.015, t
    assert abs(float(gain.var()) - 1.0) < 0.12


def test_k_to_plus_infinity_is_awgn():
    amplitude = _gains(2, k_factor_db=40.0).sqrt()
    assert abs(float(amplitude.mean()) - 1.0) < 1e-3
    assert float(amplitude.std()) < 0.0075 * 1.5  # sqrt(1 / (2 (K + 1))) = 0.0071 at 40 dB
    assert float((amplitude - 1.0).abs().max()) < 0.05


@pytest.mark.parametrize("k_db", [-10.0, 0.0, 10.0, 20.0])
def test_unit_power_and_rician_variance_for_every_k(k_db):
    gain = _gains(3, k_factor_db=k_db)
    k = 10 ** (k_db / 10)
    assert abs(float(gain.mean()) - 1.0) < 0.04
    # Var |h|^2 = (1 + 2K) / (K + 1)^2: 0.98 at -10 dB, 0.75 at 0 dB, 0.17 at 10 dB, 0.02 at 20 dB
    assert float(gain.var()) == pytest.approx((1 + 2 * k) / (k + 1) ** 2, rel=0.12)


def test_rician_coefficients_are_sionnas_draw_plus_the_line_of_sight():
    from sionna.phy import config
    from sionna.phy.channel import GenerateFlatFadingChannel

    config.seed = 9
    g = GenerateFlatFadingChannel(1, 2)(50 * 3).reshape(50, 3, 1, 2)  # [N, V, 1, antennas]
    config.seed = 9
    channel = CHANNELS["rician"](device="cpu", precision="single", k_factor_db=10.0, fading="block", num_rx_ant=2)
    x = torch.ones(1, 50, 3, 4, dtype=torch.complex64)
    _, h, _ = channel._fade(x, torch.tensor([1.0]))
    k = 10.0
    assert torch.allclose(h[0], math.sqrt(k / (k + 1)) + math.sqrt(1 / (k + 1)) * g, atol=1e-6)


def test_fast_rician_draws_one_coefficient_per_symbol():
    from sionna.phy import config

    config.seed = 4
    channel = CHANNELS["rician"](device="cpu", precision="single", k_factor_db=0.0, fading="fast")
    x = torch.ones(2, 500, 3, 8, dtype=torch.complex64)
    _, no_eff = channel(x, torch.tensor([1.0, 0.1]))
    assert no_eff.shape == (2, 500, 3, 8)
    gain = (torch.tensor([1.0, 0.1]).reshape(2, 1, 1, 1) / no_eff).double()
    # independent draws along the symbols: neighbouring gains uncorrelated (|r| < 0.05 for 24,000 pairs)
    a, b = gain[..., :-1].flatten(), gain[..., 1:].flatten()
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.05
    assert abs(float(gain.mean()) - 1.0) < 0.03
