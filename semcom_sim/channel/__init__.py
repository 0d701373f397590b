"""Channel models, each a registered class wrapping Sionna blocks and owning its capacity reference.

A preset file (``presets/*.yaml``, or the user's own) names a model and its options, which go to
the model's constructor as they are. Adding a model: one module here that registers a
:class:`Channel` subclass (see awgn.py), plus its import below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..scenario import ChannelPreset
from ..registry import Registry
from .base import Channel, mmse_gain

CHANNELS: Registry = Registry("channel model")

from . import awgn, rayleigh, rician, tdl  # noqa: E402,F401  (register the models)


def build_channel(preset: ChannelPreset, device, precision: str) -> Channel:
    return CHANNELS[preset.model](device=str(device), precision=precision, **preset.options)


def snr_db_to_noise_var(snr_db):
    """N0 for unit symbol energy: SNR = Es/N0 = 1/N0 (Sionna's ebnodb2no with rate 1, 1 bit/symbol);
    a tensor of SNRs in dB -> a tensor of noise variances, same shape and dtype.

    >>> import torch
    >>> from semcom_sim.blocks import snr_db_to_noise_var
    >>> snr_db_to_noise_var(torch.tensor([0.0, 10.0, 20.0]))
    tensor([1.0000, 0.1000, 0.0100])
    """
    from sionna.phy.utils import ebnodb2no

    return ebnodb2no(snr_db, num_bits_per_symbol=1, coderate=1.0)


@dataclass(frozen=True)
class SnrPoints:
    """The run's SNR points, converted once: ``db`` as given, ``no`` = N0 in the run's
    dtype and device (what the channels add), ``linear`` = Es/N0 = 1/N0 in float64 (what the
    capacity references read).

    >>> import torch
    >>> from semcom_sim.blocks import SnrPoints
    >>> snr = SnrPoints.of([0.0, 10.0], torch.float32, "cpu")
    >>> snr.no                                           # float32 [S]: what a channel adds
    tensor([1.0000, 0.1000])
    >>> [round(x, 4) for x in snr.linear.tolist()]      # [S]: Es/N0
    [1.0, 10.0]
    >>> snr.linear.dtype
    torch.float64
    """

    db: tuple[float, ...]
    no: torch.Tensor
    linear: torch.Tensor

    @classmethod
    def of(cls, snr_db: Sequence[float], dtype: torch.dtype, device) -> "SnrPoints":
        db = torch.tensor(list(snr_db), dtype=torch.float64)
        # Sionna's ebnodb2no computes at its configured precision (float32 in a float32 run): the
        # capacity references get Es/N0 from the dB values in float64 instead
        no = snr_db_to_noise_var(db).to(device, dtype)
        return cls(tuple(float(x) for x in snr_db), no, torch.pow(10.0, db / 10.0))


__all__ = ["CHANNELS", "Channel", "SnrPoints", "mmse_gain", "build_channel", "snr_db_to_noise_var"]
