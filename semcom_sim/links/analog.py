from __future__ import annotations

import math
from typing import Any

import torch

from ..transmitter.analog import AnalogLink
from . import LINKS
from .base import Link

# channel symbols per chunk of draws: bounds memory whatever the data size
SYMBOLS_PER_CHUNK = 1 << 24


@LINKS.register("analog")
class Analog(Link):
    """Payload values sent as they are, two per channel use (``transmitter/analog.py``); the
    receiver takes the channel's linear MMSE estimate and undoes the power normalisation."""

    def __init__(self, link: AnalogLink):
        self.link = link

    @classmethod
    def sizes(cls, payload_len: int, tx: Any = None, scenario: Any = None) -> tuple[int, int]:
        return math.ceil(payload_len / 2), 0

    @classmethod
    def fit(cls, train_payload: torch.Tensor, tx: Any = None, scenario: Any = None) -> "Analog":
        return cls(AnalogLink.fit(train_payload))

    @property
    def channel_uses(self) -> int:
        return self.link.channel_uses

    def capacity_bits(self, bits_per_value: int) -> int:
        # an ideal code carrying b bits per payload value in the analog link's channel uses
        return self.link.payload_len * bits_per_value

    def send(self, payload: torch.Tensor) -> torch.Tensor:
        return self.link.modulate(payload)  # [N, V, L]

    def draws_per_chunk(self, sent: torch.Tensor, snr_points: int, draws: int) -> int:
        return max(1, min(draws, SYMBOLS_PER_CHUNK // max(1, snr_points * sent.numel())))

    def receive(self, channel, sent: torch.Tensor, no: torch.Tensor, draws: int):
        xs = sent.expand(no.shape[0], draws, *sent.shape)  # [S, r, N, V, L], no copy
        return self.link.demodulate(*channel.mmse(xs, no)), {}

    def receive_each(self, channel, sent: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        # each instance as its own SNR point of one draw: [N, 1, 1, V, L]
        return self.link.demodulate(*channel.mmse(sent[:, None, None], no))[:, 0, 0]
