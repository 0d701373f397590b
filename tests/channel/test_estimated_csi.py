"""Estimated CSI: the LS estimate from n pilots has error variance N0 / (n Es_p), the returned error
variance includes it, and the pilots are reported as channel uses beside the link's own.

Spread over seeds 0-3 (1e4 estimates each, scratch script): measured / N0/(n Es_p) in 0.988-1.023;
mean |x_u - x|^2 / no_eff in 0.990-1.011 for one antenna (it would read 1.24-1.52 with the
perfect-CSI variance). Here 4e4 estimates per case (relative standard deviation 0.5 %), so the 5 %
tolerance is about 10 standard deviations.
"""
import math

import pytest
import torch

from semcom_sim.channel import CHANNELS
from semcom_sim.links import monte_carlo


def _unit_symbols(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)) / math.sqrt(2)


def _estimated(**options):
    return CHANNELS["rayleigh"](device="cpu", precision="single", fading="block", csi="estimated", **options)


@pytest.mark.parametrize("pilots,offset_db", [(1, 0.0), (2, 0.0), (4, 3.0), (8, -6.0)])
@pytest.mark.parametrize("no", [1.0, 0.05])
def test_ls_estimation_error_variance_is_n0_over_n_es(pilots, offset_db, no):
    from sionna.phy import config

    channel = _estimated(pilots=pilots, pilot_snr_offset_db=offset_db, num_rx_ant=2)
    x = _unit_symbols(1, 20_000, 1, 2)
    n0 = torch.tensor([no])
    config.seed = 3
    _, h, _ = channel._fade(x, n0)  # the true coefficients of the draw _receive makes with the same seed
    config.seed = 3
    _, h_hat, no_rx = channel._receive(x, n0)
    expected = no / (pilots * 10 ** (offset_db / 10))
    assert float((h_hat - h).abs().square().double().mean()) == pytest.approx(expected, rel=0.05)
    assert float(no_rx.flatten()[0]) == pytest.approx(no + expected, rel=1e-6)  # the noise the receiver assumes


@pytest.mark.parametrize("no", [1.0, 0.1])
def test_returned_error_variance_includes_the_estimation_error(no):
    from sionna.phy import config

    channel = _estimated(pilots=2)
    x = _unit_symbols(1, 20_000, 2, 4, seed=1)
    config.seed = 4
    x_u, no_eff = channel(x, torch.tensor([no]))
    normalised = ((x_u - x).abs().square() / no_eff).double().mean()
    # the error in units of no_eff has unit power; N0 / |h_hat|^2 alone would read 1.5 (2 pilots)
    assert float(normalised) == pytest.approx(1.0, abs=0.05)


def test_estimated_csi_costs_accuracy_that_more_pilot_energy_wins_back():
    """MSE of the analog MMSE estimate at 10 dB: perfect < 8 pilots < 1 pilot."""
    from sionna.phy import config

    x = _unit_symbols(1, 20_000, 1, 4, seed=2)
    no = torch.tensor([0.1])
    mse = []
    for options in ({"fading": "block"}, {"fading": "block", "csi": "estimated", "pilots": 8},
                    {"fading": "block", "csi": "estimated", "pilots": 1}):
        config.seed = 6
        y, w = CHANNELS["rayleigh"](device="cpu", precision="single", **options).mmse(x, no)
        mse.append(float((w * y - x).abs().square().mean()))
    assert mse[0] < 0.97 * mse[1] and mse[1] < 0.9 * mse[2], mse


def test_pilots_are_reported_beside_the_links_channel_uses():
    from semcom_sim.links.analog import Analog

    payload = torch.randn(30, 3, 10, generator=torch.Generator().manual_seed(0))
    link = Analog.fit(payload)
    no = torch.tensor([1.0, 0.1])

    def measure(p_hat, _draws):
        return {"mse": (p_hat - payload).square().mean((-3, -2, -1))}

    out = monte_carlo(link, payload, _estimated(pilots=2), no, 2, measure)
    assert out["pilot_uses"].tolist() == [6.0, 6.0]  # 3 vectors x 2 pilots per instance
    assert link.channel_uses == 5  # the link's own count stays the data symbols
    perfect = CHANNELS["rayleigh"](device="cpu", precision="single", fading="block")
    assert "pilot_uses" not in monte_carlo(link, payload, perfect, no, 2, measure)
