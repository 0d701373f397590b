"""OFDM over 3GPP TDL (semcom_sim/channel/tdl.py): the flat limit is block Rayleigh, the estimated-CSI
receiver's error variance is the one it returns, the hand-written estimator and equaliser are
Sionna's, bad options are refused in one line, pilots and the capacity reference are reported.

Seed-to-seed spreads (seeds 0-5, scratch scripts, the sizes used here):
- QPSK BER / theory, 20 000 flat slots per SNR point: 0.992-1.001 at 0 dB, 0.987-1.001 at 5 dB,
  0.972-1.010 at 10 dB (standard deviation 1.3 %); at 20 dB 0.98-1.11 (deep fades are rare), hence
  not tested there. The 10 % tolerance is about 7 standard deviations at 10 dB.
- mean |x_u - x|^2 / no_eff, TDL-C 300 ns, 3 m/s, estimated CSI, 300 slots per SNR point: 0.995-1.004
  (lin and nn) at 0 and 10 dB, standard deviation 0.2 %, tolerance 3 %; on the extrapolated edge
  symbols alone (2/7 of the data elements) 0.989-1.004, tolerance 6 %. With Sionna's own error
  variance (N0 on every element, lin) it would read 0.939-0.946 overall and be wrong per symbol.
- capacity reference in the flat limit: 1024 independent windows, standard deviation <= 0.016.
"""
import math

import pytest
import torch

from semcom_sim.channel import CHANNELS, snr_db_to_noise_var


def _tdl(**options):
    return CHANNELS["tdl"](device="cpu", precision="single", **options)


def _qpsk(n: int, seed: int):
    bits = torch.randint(0, 2, (1, n, 2), generator=torch.Generator().manual_seed(seed))
    return bits, torch.complex(1 - 2.0 * bits[..., 0], 1 - 2.0 * bits[..., 1]) / math.sqrt(2)


def _gaussian(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)


def test_flat_tdl_with_perfect_csi_has_the_block_rayleigh_qpsk_ber():
    """Zero delay spread and speed: one coefficient per slot, the sum of the TDL taps, CN(0, 1). Unit-energy
    QPSK, each bit on one quadrature of amplitude 1/sqrt(2) in noise N0/2 after the perfect-CSI equaliser:
    P(bit | h) = Q(sqrt(|h|^2 / N0)) = Q(sqrt(2 g |h|^2)), g = Eb/N0 = Es/N0 / 2, whose Rayleigh average is
    0.5 (1 - sqrt(g / (1 + g)))."""
    from sionna.phy import config

    ch = _tdl(model="C", delay_spread_ns=0.0, speed_mps=0.0, fft_size=12, num_ofdm_symbols=1,
              pilot_pattern="empty", csi="perfect")
    snr_db = torch.tensor([0.0, 5.0, 10.0])
    no = snr_db_to_noise_var(snr_db)
    g = 1.0 / no.double() / 2.0
    theory = 0.5 * (1.0 - torch.sqrt(g / (1.0 + g)))
    bits, x = _qpsk(20_000 * 12, seed=0)
    config.seed = 0
    x_u, no_eff = ch(x.expand(3, -1), no)
    # flat: the coefficient, hence no_eff = N0 / |h|^2, is one per slot of 12 elements
    per_slot = no_eff.reshape(3, -1, 12)
    assert torch.allclose(per_slot, per_slot[..., :1].expand_as(per_slot), rtol=1e-4)
    ber = (((x_u.real < 0) != (bits[..., 0] == 1)).double().mean(-1)
           + ((x_u.imag < 0) != (bits[..., 1] == 1)).double().mean(-1)) / 2
    assert torch.allclose(ber, theory, rtol=0.10), (ber, theory)


@pytest.mark.parametrize("interpolation", ["lin", "nn"])
def test_estimated_csi_error_variance_is_the_returned_one(interpolation):
    from sionna.phy import config

    ch = _tdl(model="C", delay_spread_ns=300.0, carrier_frequency_hz=3.5e9, speed_mps=3.0, interpolation=interpolation)
    no = snr_db_to_noise_var(torch.tensor([0.0, 10.0]))
    x = _gaussian(1, 300 * 864, seed=1)  # 300 slots of 864 data elements per SNR point
    config.seed = 1
    x_u, no_eff = ch(x.expand(2, -1), no)
    ratio = ((x_u - x).abs().square() / no_eff).double()
    assert torch.allclose(ratio.mean(-1), torch.ones(2, dtype=torch.float64), atol=0.03), ratio.mean(-1)
    # data symbols 0, 1 and 12, 13 lie outside the pilots (2, 11): lin extrapolates, with a larger error
    edges = ratio.reshape(2, 300, 12, 72)[:, :, [0, 1, 10, 11]].mean((1, 2, 3))
    assert torch.allclose(edges, torch.ones(2, dtype=torch.float64), atol=0.06), edges
    if interpolation == "lin":
        assert float(ch._error_factor.max()) == pytest.approx((11 / 9) ** 2 + (2 / 9) ** 2, rel=1e-4)


def test_estimator_and_equaliser_are_sionnas():
    """One pass of slots: the hand-written LS interpolation equals Sionna's LSChannelEstimator, the
    closed-form equaliser Sionna's LMMSEEqualizer fed the same error variance."""
    import numpy as np
    from sionna.phy import config
    from sionna.phy.mimo import StreamManagement
    from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator

    ch = _tdl(model="A", delay_spread_ns=100.0, speed_mps=30.0, fft_size=24, pilot_ofdm_symbol_indices=[3, 10])
    b, d = 8, ch.data_per_slot
    x = _gaussian(1, b * d, seed=2)
    no = torch.tensor([0.05])
    config.seed = 7
    x_u, no_eff = ch(x, no)
    config.seed = 7
    y, _ = ch._ofdm(ch._mapper(x.reshape(b, 1, 1, d)), no.expand(b))
    h_ls, _ = LSChannelEstimator(ch._rg, interpolation_type="lin")(y, no.expand(b))
    ours = torch.matmul(ch._weights, y.reshape(b, 14, 24)[:, [3, 10]] * ch._pilot_factor)
    assert torch.allclose(ours, h_ls.reshape(b, 14, 24)[:, ch._data_symbols], atol=1e-5)
    err_var = torch.zeros(14, 24)
    err_var[ch._data_symbols] = float(no) * ch._error_factor.reshape(-1, 24)
    x_hat, no_eff_sionna = LMMSEEqualizer(ch._rg, StreamManagement(np.ones([1, 1]), 1))(y, h_ls, err_var, no.expand(b))
    assert torch.allclose(x_u.reshape(b, d), x_hat.reshape(b, d), rtol=1e-3, atol=1e-4)
    assert torch.allclose(no_eff.reshape(b, d), no_eff_sionna.reshape(b, d), rtol=1e-3, atol=1e-6)


def test_mmse_is_the_shrunk_unbiased_estimate():
    from sionna.phy import config

    ch = _tdl(model="D", delay_spread_ns=30.0)
    x = _gaussian(2, 5, 3, 17, seed=3)  # 255 symbols per SNR point: one slot, padded
    no = torch.tensor([0.3, 0.01])
    config.seed = 2
    x_u, no_eff = ch(x, no)
    config.seed = 2
    y, w = ch.mmse(x, no)
    assert y.shape == x.shape and float(w) == 1.0
    assert torch.allclose(y, x_u / (1.0 + no_eff), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options,needle", [
    ({"model": "F"}, "model"),
    ({"delay_spread_ns": -1.0}, "delay_spread_ns"),
    ({"carrier_frequency_hz": 200e9}, "carrier_frequency_hz"),
    ({"speed_mps": float("nan")}, "speed_mps"),
    ({"fft_size": 0}, "fft_size"),
    ({"fft_size": 72.0}, "fft_size"),
    ({"subcarrier_spacing_hz": 20e3}, "subcarrier_spacing_hz"),
    ({"num_ofdm_symbols": 0}, "num_ofdm_symbols"),
    ({"pilot_pattern": "block"}, "pilot_pattern"),
    ({"pilot_pattern": "empty"}, "csi: estimated needs pilot_pattern: kronecker"),
    ({"pilot_pattern": "empty", "csi": "perfect", "pilot_ofdm_symbol_indices": [2]}, "pilot_ofdm_symbol_indices"),
    ({"pilot_ofdm_symbol_indices": [2, 14]}, "pilot_ofdm_symbol_indices"),
    ({"pilot_ofdm_symbol_indices": [2, 2]}, "pilot_ofdm_symbol_indices"),
    ({"pilot_ofdm_symbol_indices": []}, "pilot_ofdm_symbol_indices"),
    ({"num_ofdm_symbols": 2, "pilot_ofdm_symbol_indices": [0, 1]}, "pilot_ofdm_symbol_indices"),
    ({"csi": "blind"}, "csi"),
    ({"interpolation": "cubic"}, "interpolation"),
    ({"csi": "perfect", "interpolation": "lin"}, "interpolation"),
])
def test_bad_options_are_refused_in_one_line(options, needle):
    with pytest.raises(ValueError) as e:
        CHANNELS["tdl"].check(**options)
    assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError):  # the constructor refuses them too, before building anything
        _tdl(**options)


def test_pilots_are_reported_per_vector():
    from semcom_sim.links import monte_carlo
    from semcom_sim.links.analog import Analog

    payload = torch.randn(20, 3, 20, generator=torch.Generator().manual_seed(0))
    link = Analog.fit(payload)  # L = 10 channel uses per vector
    no = torch.tensor([1.0, 0.1])

    def measure(p_hat, _draws):
        return {"mse": (p_hat - payload).square().mean((-3, -2, -1))}

    out = monte_carlo(link, payload, _tdl(), no, 2, measure)  # default grid: 864 data, 144 pilot elements
    assert torch.allclose(out["pilot_uses"], torch.full((2,), 3 * 10 * 144 / 864, dtype=torch.float64))
    assert float(out["mse"][1]) < float(out["mse"][0])
    empty = monte_carlo(link, payload, _tdl(pilot_pattern="empty", csi="perfect"), no, 1, measure)
    assert "pilot_uses" not in empty


def test_capacity_reference_is_block_rayleigh_outage_in_the_flat_limit_and_leaves_the_draws_alone():
    from sionna.phy import config

    ch = _tdl(model="B", delay_spread_ns=0.0, speed_mps=0.0, fft_size=12, num_ofdm_symbols=2,
              pilot_pattern="empty", csi="perfect")
    x = _gaussian(1, 2, 24, seed=4)
    config.seed = 9
    before, _ = ch(x, torch.tensor([0.1]))
    snr = 10 ** (torch.tensor([0.0, 10.0, 20.0], dtype=torch.float64) / 10)
    # one window per slot (24 elements): a Rayleigh block per codeword, P = exp(-(2^R - 1) / SNR);
    # 1024 independent windows, standard deviation at most 0.016: tolerance about 3 of them
    p = ch.delivery_probability(48, 24, snr)
    assert torch.allclose(p, torch.exp(-(2.0 ** 2 - 1.0) / snr), atol=0.05), p
    config.seed = 9
    after, _ = ch(x, torch.tensor([0.1]))
    assert torch.equal(before, after)  # the reference's own draws do not shift the run's
    selective = _tdl(model="C", delay_spread_ns=1000.0)  # windows of 24 subcarriers average several fades
    p_sel = selective.delivery_probability(48, 24, snr)
    assert ((p_sel >= 0) & (p_sel <= 1)).all() and (p_sel.diff() >= 0).all()
    assert float(p_sel[1]) > float(p[1]) + 0.03  # frequency diversity beats a flat block (0.80 against 0.73)
