from __future__ import annotations

import torch

from . import CHANNELS
from .base import Channel
from .capacity import awgn_delivery


@CHANNELS.register("awgn")
class AWGNChannel(Channel):
    """y = x + n, n ~ CN(0, N0); no equaliser is needed."""

    def __init__(self, *, device, precision: str):
        from sionna.phy.channel import AWGN

        self._awgn = AWGN(precision=precision, device=device)

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        no = self._per_snr(no, x.dim())
        return self._awgn(x, no), no

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        return awgn_delivery(info_bits, channel_uses, snr)
