import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semcom_sim.links.analog import Analog
from semcom_sim.transmitter import build_payload, centroid, rfs_indices
from semcom_sim.transmitter.schemes import get_scheme
from semcom_sim.transmitter.payload import rfs_size


def _z(n=50, d=32, m=3):
    g = torch.Generator().manual_seed(0)
    return {f"m{i}": F.normalize(torch.randn(n, d, generator=g), dim=-1) for i in range(m)}


@pytest.mark.parametrize("keep,expected", [(1.0, 64), (0.5, 32), (0.1, 6), (0.001, 1)])
def test_rfs_keeps_exactly_t_distinct_coordinates(keep, expected):
    idx = rfs_indices(64, keep, np.random.default_rng(1))
    assert idx.numel() == expected == rfs_size(64, keep)
    assert len(set(idx.tolist())) == expected
    assert torch.all(idx[1:] > idx[:-1])
    assert torch.equal(idx, rfs_indices(64, keep, np.random.default_rng(1)))  # same seed, same set


def test_centroid_payload_is_one_mth_of_conventional():
    z = _z()
    idx = rfs_indices(32, 0.5, np.random.default_rng(0))
    conv, cent = build_payload(z, get_scheme("conventional"), idx), build_payload(z, get_scheme("centroid"), idx)
    assert conv.shape == (50, 3, 16) and cent.shape == (50, 1, 16)
    assert conv[0].numel() == 3 * cent[0].numel()
    assert torch.allclose(cent[:, 0], centroid(z)[:, idx])
    assert torch.allclose(conv[:, 1], z["m1"][:, idx])


@pytest.mark.parametrize("t", [16, 7])
def test_analog_link_unit_energy_per_channel_use_and_exact_round_trip(t):
    payload = torch.randn(200, 3, t, generator=torch.Generator().manual_seed(0)) * 0.3
    link = Analog.fit(payload)
    assert link.channel_uses == math.ceil(t / 2)
    x = link.modulate(payload)
    assert x.shape == (200, 3, math.ceil(t / 2)) and x.is_complex()
    assert abs(float(x.abs().square().mean()) - 1.0) < 1e-5
    assert torch.allclose(link.demodulate(x), payload, atol=1e-6)
