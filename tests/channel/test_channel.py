import math

import pytest
import torch
from sionna.phy.mimo import lmmse_equalizer

from semcom_sim.channel import build_channel, mmse_gain, snr_db_to_noise_var
from semcom_sim.scenario import load_channel_preset
from semcom_sim.links.analog import Analog


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
    link = Analog.fit(payload)
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
    link = Analog.fit(payload)
    no = snr_db_to_noise_var(torch.tensor([0.0]))
    x_u, no_eff = _channel("rayleigh_block")(link.modulate(payload).unsqueeze(0), no)
    mse_mmse = (link.demodulate(x_u, mmse_gain(no_eff))[0] - payload).square().mean()
    mse_zf = (link.demodulate(x_u)[0] - payload).square().mean()
    assert float(mse_mmse) < 0.5 * float(mse_zf)


def _reference_draw(name, x, no, seed):
    """Sionna's blocks called directly with ``seed``: the coefficients h and the output y the channel
    model must reproduce (block: one h per vector from Sionna's generator; fast: one per symbol, drawn
    from Sionna's seeded generator in one pass over interleaved real and imaginary parts, flat.py;
    then the noise, CN(0, N0) from the same generator in one draw, base.add_noise)."""
    from sionna.phy import config
    from sionna.phy.channel import ApplyFlatFadingChannel, GenerateFlatFadingChannel

    config.seed = seed
    if name == "rayleigh_block":
        h = GenerateFlatFadingChannel(1, 1)(math.prod(x.shape[:-1])).reshape(*x.shape[:-1], 1)
    else:
        parts = torch.empty(*x.shape, 2).normal_(0.0, math.sqrt(0.5), generator=config.torch_rng("cpu"))
        h = torch.view_as_complex(parts)
    no_b = no.reshape(-1, *([1] * (x.dim() - 1)))
    y = ApplyFlatFadingChannel()(x.unsqueeze(-1), h[..., None, None])[..., 0]
    noise = torch.view_as_complex(torch.empty(*y.shape, 2).normal_(0.0, math.sqrt(0.5), generator=config.torch_rng("cpu")))
    y = y + no_b.sqrt() * noise
    return y, h, no_b


@pytest.mark.parametrize("preset", ["rayleigh_block", "rayleigh_fast"])
def test_rayleigh_equalisers_equal_the_formulas_on_sionnas_draws(preset):
    from sionna.phy import config

    x = _unit_symbols(300, 3, 8, seed=2).expand(4, 2, 300, 3, 8)  # [S, R, N, V, L], a broadcast view
    no = torch.tensor([10.0, 1.0, 0.1, 1e-3])
    y_ref, h, no_b = _reference_draw(preset, x, no, seed=7)
    ch = build_channel(load_channel_preset(preset), "cpu", "single")
    config.seed = 7
    x_u, no_eff = ch(x, no)
    # the digital link's contract, bit for bit: x_u = y / h, no_eff = N0 / |h|^2
    assert torch.equal(x_u, y_ref / h)
    assert torch.equal(no_eff, no_b / h.abs().square())
    config.seed = 7
    y, w = ch.mmse(x, no)
    w_ref = h.conj() / (h.abs().square() + no_b)
    if preset == "rayleigh_block":  # y as received and one weight per vector, for the receiver to fold
        assert torch.equal(y, y_ref) and w.shape == h.shape == (4, 2, 300, 3, 1)
        assert torch.allclose(w, w_ref, rtol=1e-6, atol=1e-7)
    else:  # one weight per symbol: applied by the channel
        assert w.shape == () and float(w) == 1.0
    # w y is h* y / (|h|^2 + N0) on Sionna's own draw, and the old path's x_u / (1 + no_eff), within
    # float rounding, deep fades included
    assert torch.allclose(w * y, w_ref * y_ref, rtol=1e-6, atol=1e-6)
    x_mmse, old = w * y, x_u * mmse_gain(no_eff)
    assert float(((x_mmse - old).abs() / old.abs().clamp_min(1e-3)).max()) < 1e-5
    assert float((x_mmse - old).abs().max()) < 1e-5


def test_awgn_mmse_is_the_mmse_gain():
    from sionna.phy import config

    x = _unit_symbols(500, 4).expand(3, 500, 4)
    no = torch.tensor([2.0, 0.5, 0.01])
    ch = _channel("awgn")
    config.seed = 3
    y_ref, no_eff = ch(x, no)
    config.seed = 3
    y, w = ch.mmse(x, no)
    assert torch.equal(y, y_ref) and torch.equal(w, mmse_gain(no_eff)) and w.shape == (3, 1, 1)


@pytest.mark.parametrize("preset", ["awgn", "rayleigh_block", "rayleigh_fast"])
def test_analog_receiver_through_mmse_equals_the_old_path(preset):
    """link.demodulate(*channel.mmse(...)) equals link.demodulate(x_u, mmse_gain(no_eff)) within 1e-6."""
    from sionna.phy import config

    payload = torch.randn(400, 3, 15, generator=torch.Generator().manual_seed(4)) * 0.2  # odd T: a padded use
    link = Analog.fit(payload)
    xs = link.modulate(payload).expand(3, 2, 400, 3, 8)
    no = snr_db_to_noise_var(torch.tensor([-10.0, 0.0, 20.0]))
    ch = build_channel(load_channel_preset(preset), "cpu", "single")
    config.seed = 11
    x_u, no_eff = ch(xs, no)
    old = link.demodulate(x_u, mmse_gain(no_eff))
    config.seed = 11
    new = link.demodulate(*ch.mmse(xs, no))
    assert new.shape == old.shape == (3, 2, 400, 3, 15)
    assert float((new - old).abs().max()) < 1e-6
