from __future__ import annotations

import torch

from . import CHANNELS
from .base import Channel, add_noise
from .capacity import awgn_delivery


@CHANNELS.register("awgn")
class AWGNChannel(Channel):
    """y = x + n, n ~ CN(0, N0); no equaliser is needed."""

    @classmethod
    def one_sinr_per_block(cls, **options) -> bool:
        return True

    def __init__(self, *, device, precision: str):
        """Nothing to build: the noise takes the symbols' device and dtype (base.add_noise)."""

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        no = self._per_snr(no, x.dim())
        return add_noise(x, no), no

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        return awgn_delivery(info_bits, channel_uses, snr)
