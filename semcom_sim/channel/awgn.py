from __future__ import annotations

import torch
from sionna.phy.channel import AWGN

from . import CHANNELS
from .base import Channel


@CHANNELS.register("awgn")
class AWGNChannel(Channel):
    """y = x + n, n ~ CN(0, N0); no equaliser is needed."""

    def __init__(self, *, device, precision: str):
        self._awgn = AWGN(precision=precision, device=device)

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        no = self._per_snr(no, x.dim())
        return self._awgn(x, no), no
