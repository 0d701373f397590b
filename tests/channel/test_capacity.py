"""Capacity references of the fading models against Monte-Carlo estimates of the same quantities.

Outage probabilities from 2e5 draws have a standard deviation <= 0.0011; the tolerance 0.006 is
over 5 of them. Ergodic capacities from 4e5 draws differed between seeds 0-3 by at most 0.005 bit/use
(scratch script); the step is compared only where the Monte-Carlo capacity is 0.02 bit/use away from
the rate.
"""
import math

import numpy as np
import pytest
import torch

from semcom_sim.channel import CHANNELS
from semcom_sim.channel.capacity import (awgn_delivery, ergodic_delivery, rayleigh_block_delivery,
                                         rayleigh_ergodic_delivery, rician_block_delivery)

SNR_DB = np.arange(-5.0, 21.0, 2.5)
INFO_BITS, USES = 256, 128  # 2 bits per channel use


def _snr():
    return torch.from_numpy(10 ** (SNR_DB / 10))


def _gains(n_draws: int, num_rx_ant: int, k: float, seed: int = 0) -> np.ndarray:
    """||h||^2 of n_draws independent SIMO Rician vectors (K = 0: Rayleigh), LoS in phase on every antenna."""
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal((n_draws, num_rx_ant)) + 1j * rng.standard_normal((n_draws, num_rx_ant))) / math.sqrt(2)
    h = math.sqrt(k / (k + 1)) + math.sqrt(1 / (k + 1)) * g
    return (np.abs(h) ** 2).sum(-1)


def _mc_delivery(gain: np.ndarray) -> np.ndarray:
    return (INFO_BITS <= USES * np.log2(1 + gain[:, None] * 10 ** (SNR_DB / 10))).mean(0)


@pytest.mark.parametrize("num_rx_ant", [1, 2, 4])
def test_rayleigh_block_outage_on_n_antennas_matches_monte_carlo(num_rx_ant):
    p = rayleigh_block_delivery(INFO_BITS, USES, _snr(), num_rx_ant)
    assert np.allclose(p.numpy(), _mc_delivery(_gains(200_000, num_rx_ant, 0.0)), atol=0.006)


@pytest.mark.parametrize("k_db,num_rx_ant", [(10.0, 1), (0.0, 2), (6.0, 3)])
def test_rician_block_outage_matches_monte_carlo(k_db, num_rx_ant):
    k = 10 ** (k_db / 10)
    p = rician_block_delivery(INFO_BITS, USES, _snr(), k, num_rx_ant)
    assert np.allclose(p.numpy(), _mc_delivery(_gains(200_000, num_rx_ant, k)), atol=0.006)


def test_rician_block_outage_limits():
    snr = _snr()
    # K -> -inf dB: Rayleigh's outage; K -> +inf dB: AWGN's step (away from its threshold, 4.77 dB)
    assert torch.allclose(rician_block_delivery(INFO_BITS, USES, snr, 1e-5),
                          rayleigh_block_delivery(INFO_BITS, USES, snr), atol=1e-4)
    far = torch.from_numpy(np.abs(SNR_DB - 10 * math.log10(3)) > 0.5)
    awgn = awgn_delivery(INFO_BITS, USES, snr)
    assert torch.allclose(rician_block_delivery(INFO_BITS, USES, snr, 1e5)[far], awgn[far], atol=1e-6)


@pytest.mark.parametrize("k_db,num_rx_ant", [(None, 2), (10.0, 1), (3.0, 2)])
def test_ergodic_delivery_matches_monte_carlo_capacity(k_db, num_rx_ant):
    k = 0.0 if k_db is None else 10 ** (k_db / 10)
    snr_db = np.arange(-2.0, 12.0, 0.5)
    p = ergodic_delivery(INFO_BITS, USES, torch.from_numpy(10 ** (snr_db / 10)), num_rx_ant, k)
    ergodic = np.log2(1 + _gains(400_000, num_rx_ant, k)[:, None] * 10 ** (snr_db / 10)).mean(0)
    clear = np.abs(ergodic - INFO_BITS / USES) > 0.02
    assert clear.sum() >= len(snr_db) - 2
    assert np.array_equal(p.numpy()[clear], (INFO_BITS / USES <= ergodic[clear]).astype(np.float64))
    assert 0 < p.sum() < len(snr_db)  # the threshold lies inside the range


def test_ergodic_integration_equals_the_siso_rayleigh_closed_form():
    """Crossing SNRs, 1e-6 dB apart around the SISO Rayleigh threshold (found by bisection on the
    closed form): the numerical integral switches at the same place."""
    snr_db = torch.linspace(-5.0, 20.0, 101, dtype=torch.float64)
    snr = 10 ** (snr_db / 10)
    closed = rayleigh_ergodic_delivery(INFO_BITS, USES, snr)
    assert torch.equal(ergodic_delivery(INFO_BITS, USES, snr), closed)
    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if rayleigh_ergodic_delivery(INFO_BITS, USES, torch.tensor([10 ** (mid / 10)], dtype=torch.float64))[0]:
            hi = mid
        else:
            lo = mid
    edge = torch.tensor([hi - 1e-6, hi + 1e-6], dtype=torch.float64)
    assert ergodic_delivery(INFO_BITS, USES, 10 ** (edge / 10)).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("name,options,reference", [
    ("rician", {"k_factor_db": 10.0, "fading": "block"}, lambda s: rician_block_delivery(64, 16, s, 10.0)),
    ("rician", {"k_factor_db": 10.0, "fading": "fast", "num_rx_ant": 2},
     lambda s: ergodic_delivery(64, 16, s, 2, 10.0)),
    ("rayleigh", {"fading": "block", "num_rx_ant": 2}, lambda s: rayleigh_block_delivery(64, 16, s, 2)),
    ("rayleigh", {"fading": "fast", "num_rx_ant": 2}, lambda s: ergodic_delivery(64, 16, s, 2)),
    ("rayleigh", {"fading": "fast"}, lambda s: rayleigh_ergodic_delivery(64, 16, s)),
    # estimated CSI: the perfect-CSI reference
    ("rayleigh", {"fading": "block", "csi": "estimated", "pilots": 2}, lambda s: rayleigh_block_delivery(64, 16, s)),
])
def test_each_model_uses_its_reference(name, options, reference):
    snr = torch.tensor([0.5, 3.0, 10.0, 100.0], dtype=torch.float64)
    channel = CHANNELS[name](device="cpu", precision="single", **options)
    assert torch.equal(channel.delivery_probability(64, 16, snr), reference(snr))


def test_diversity_and_line_of_sight_order_the_block_references():
    """At 10 dB and 2 bit/use: AWGN >= Rician 10 dB >= Rayleigh, and 2 antennas >= 1."""
    snr = torch.tensor([10.0], dtype=torch.float64)
    awgn = float(awgn_delivery(INFO_BITS, USES, snr)[0])
    rician = float(rician_block_delivery(INFO_BITS, USES, snr, 10.0)[0])
    rayleigh = [float(rayleigh_block_delivery(INFO_BITS, USES, snr, n)[0]) for n in (1, 2)]
    assert awgn == 1.0 > rician > rayleigh[1] > rayleigh[0]
    assert rayleigh[0] == pytest.approx(math.exp(-0.3))  # exp(-(2^2 - 1) / 10)
