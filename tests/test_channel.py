import math

import pytest
import torch
from sionna.phy.mimo import lmmse_equalizer

from semcom_sim.channel import build_channel, mmse_gain, snr_db_to_noise_var
from semcom_sim.config import load_channel_preset
from semcom_sim.transmitter import AnalogLink


def _channel(name):
    from sionna.phy import config

    config.seed = 1234
    return build_channel(load_channel_preset(name), "cpu", "single")


def _unit_symbols(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)


def test_snr_db_to_noise_var():
    assert float(snr_db_to_noise_var(torch.tensor(10.0))) == pytest.approx(0.1)
    assert float(snr_db_to_noise_var(torch.tensor(-3.0))) == pytest.approx(10 ** 0.3)


def test_awgn_measured_noise_variance_matches_n0():
    snr_db = torch.tensor([-10.0, 0.0, 10.0, 20.0])
    no = snr_db_to_noise_var(snr_db)
    x = _unit_symbols(20_000).expand(4, 20_000)
    y, no_eff = _channel("awgn")(x, no)
    measured = (y - x).abs().square().mean(-1)
    assert torch.allclose(measured, no, rtol=0.05)
    # equal split between real and imaginary parts
    assert torch.allclose((y - x).real.square().mean(-1), no / 2, rtol=0.05)
    assert torch.equal(no_eff.flatten(), no)


@pytest.mark.parametrize("preset,coeff_len", [("rayleigh_block", 1), ("rayleigh_fast", 8)])
def test_rayleigh_fading_granularity_and_unit_power(preset, coeff_len):
    x = _unit_symbols(4000, 3, 8).unsqueeze(0)  # [S=1, N, V, L]
    no = torch.tensor([1e-2])
    _, no_eff = _channel(preset)(x, no)
    # block: one coefficient per transmitted vector; fast: one per symbol
    assert no_eff.shape[-1] == coeff_len
    gain = no / no_eff  # = |h|^2
    assert abs(float(gain.mean()) - 1.0) < 0.05  # E|h|^2 = 1
    # |h|^2 of Rayleigh fading is exponential: P(|h|^2 < 0.1) = 1 - exp(-0.1)
    assert abs(float((gain < 0.1).float().mean()) - (1 - math.exp(-0.1))) < 0.02


def test_rayleigh_block_at_30db_returns_the_payload():
    payload = torch.randn(2000, 1, 32, generator=torch.Generator().manual_seed(0)) * 0.2
    link = AnalogLink.fit(payload)
    no = snr_db_to_noise_var(torch.tensor([30.0]))
    x_u, no_eff = _channel("rayleigh_block")(link.modulate(payload).unsqueeze(0), no)
    p_hat = link.demodulate(x_u, mmse_gain(no_eff))[0]
    rel_err = ((p_hat - payload).square().sum(-1) / payload.square().sum(-1)).squeeze(-1)
    assert float(rel_err.median()) < 0.005
    assert float(rel_err.mean()) < 0.02


def test_closed_form_equaliser_equals_sionna_lmmse():
    from sionna.phy.channel import ApplyFlatFadingChannel, GenerateFlatFadingChannel

    x = _unit_symbols(500, 4)
    h = GenerateFlatFadingChannel(1, 1)(500 * 4).reshape(500, 4, 1, 1)
    no = torch.tensor(0.05)
    y = ApplyFlatFadingChannel()(x.unsqueeze(-1), h, no)
    x_ref, no_ref = lmmse_equalizer(y, h, (no * torch.ones(1, 1)).to(y.dtype))
    x_u, no_eff = y[..., 0] / h[..., 0, 0], no / h[..., 0, 0].abs().square()
    assert torch.allclose(x_u, x_ref[..., 0], rtol=1e-3, atol=1e-4)
    assert torch.allclose(no_eff, no_ref[..., 0], rtol=1e-3)


def test_mmse_estimate_beats_zero_forcing_in_deep_fades():
    payload = torch.randn(3000, 1, 16, generator=torch.Generator().manual_seed(1)) * 0.2
    link = AnalogLink.fit(payload)
    no = snr_db_to_noise_var(torch.tensor([0.0]))
    x_u, no_eff = _channel("rayleigh_block")(link.modulate(payload).unsqueeze(0), no)
    mse_mmse = (link.demodulate(x_u, mmse_gain(no_eff))[0] - payload).square().mean()
    mse_zf = (link.demodulate(x_u)[0] - payload).square().mean()
    assert float(mse_mmse) < 0.5 * float(mse_zf)
