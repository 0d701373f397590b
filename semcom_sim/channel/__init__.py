"""Channels from Sionna: AWGN and flat Rayleigh fading (block or fast) with perfect-CSI MMSE."""
from __future__ import annotations

from ..config import ChannelPreset
from ..registry import Registry
from .base import Channel, mmse_gain

CHANNELS: Registry = Registry("channel model")

from . import awgn, rayleigh  # noqa: E402,F401  (register the models)


def build_channel(preset: ChannelPreset, device, precision: str) -> Channel:
    opts = {"fading": preset.fading} if preset.fading else {}
    return CHANNELS[preset.model](device=str(device), precision=precision, **opts)


def snr_db_to_noise_var(snr_db):
    """N0 for unit symbol energy: SNR = Es/N0 = 1/N0 (Sionna's ebnodb2no with rate 1, 1 bit/symbol)."""
    from sionna.phy.utils import ebnodb2no

    return ebnodb2no(snr_db, num_bits_per_symbol=1, coderate=1.0)


__all__ = ["CHANNELS", "Channel", "mmse_gain", "build_channel", "snr_db_to_noise_var"]
