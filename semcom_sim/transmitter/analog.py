"""Analog link: real payload values are sent directly as channel symbols, two per channel use."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AnalogLink:
    """Maps a payload [..., V, T] to complex symbols [..., V, L], L = ceil(T / 2), and back.

    ``scale`` is fixed once on the training payloads so that the mean energy per channel use is 1;
    with unit-variance complex noise of variance N0 this makes SNR = Es/N0 = 1/N0.
    """

    payload_len: int  # T
    scale: float

    @property
    def channel_uses(self) -> int:  # per transmitted vector
        return math.ceil(self.payload_len / 2)

    @classmethod
    def fit(cls, train_payload: torch.Tensor) -> "AnalogLink":
        t = train_payload.shape[-1]
        energy_per_use = train_payload.double().square().sum(-1).mean() / math.ceil(t / 2)
        return cls(t, float(1.0 / energy_per_use.sqrt()))

    def modulate(self, payload: torch.Tensor) -> torch.Tensor:
        p = payload * self.scale
        if self.payload_len % 2:
            p = torch.nn.functional.pad(p, (0, 1))  # the padded zero costs no energy
        return torch.view_as_complex(p.reshape(*p.shape[:-1], self.channel_uses, 2).contiguous())

    def demodulate(self, symbols: torch.Tensor, gain: torch.Tensor | float = 1.0) -> torch.Tensor:
        """symbols [..., V, L] -> payload [..., V, T]; ``gain`` (broadcastable to symbols, e.g. an
        MMSE shrinkage) is folded into the single pass that undoes the power normalisation."""
        scaled = symbols * (gain / self.scale)
        p = torch.view_as_real(scaled).reshape(*symbols.shape[:-1], 2 * self.channel_uses)
        return p[..., : self.payload_len]
