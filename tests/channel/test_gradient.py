"""Fine-tuning through the channel (training.through_channel) back-propagates through
``channel.mmse``: every preset passes a gradient, and the path that carries it gives the same
estimate as the in-place path the Monte Carlo stage takes."""
import pytest
import torch
from sionna.phy import config

from semcom_sim.blocks import channel_from_preset, list_presets


def _estimate(channel, x, no, seed):
    config.seed = seed
    y, w = channel.mmse(x, no)
    return y * w


@pytest.mark.parametrize("preset", list_presets())
def test_mmse_passes_a_gradient_and_matches_the_in_place_path(preset):
    channel = channel_from_preset(preset)
    x0 = torch.randn(64, 1, 1, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    no = torch.full((64,), 0.1)
    with torch.no_grad():
        reference = _estimate(channel, x0.clone(), no, seed=7)
    x = x0.clone().requires_grad_(True)
    estimate = _estimate(channel, x, no, seed=7)
    torch.testing.assert_close(estimate.detach(), reference, rtol=1e-5, atol=1e-5)
    estimate.real.sum().backward()
    # d Re(sum w h x)/dx is a nonzero, finite weight per symbol: every symbol reaches the loss
    assert torch.isfinite(x.grad).all() and (x.grad.abs() > 0).float().mean() > 0.99
