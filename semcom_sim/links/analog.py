"""The analog link: real payload values sent directly as channel symbols, two per channel use; the
receiver takes the channel's linear MMSE estimate and undoes the power normalisation."""
from __future__ import annotations

import math

import torch
from pydantic import Field

from . import LINKS
from .base import Link, LinkCost, LinkOptions

# channel symbols per chunk of draws: bounds memory whatever the data size
SYMBOLS_PER_CHUNK = 1 << 24
# complex values alive per chunk symbol (7.2 measured, Rayleigh fast fading)
VALUES_PER_SYMBOL = 8


class AnalogOptions(LinkOptions):
    """The analog link's options (``{name: analog, options: {...}}`` in ``transmitter.links``).

    >>> from semcom_sim.blocks import AnalogOptions
    >>> AnalogOptions(reference_bits=8).reference_bits
    8
    """

    reference_bits: int = Field(4, ge=1, le=64, description=(
        "bits per payload value that the capacity reference (results.csv acc_top1_capacity) delivers in "
        "the analog link's channel uses: the ideal code it is compared with"))


@LINKS.register("analog")
class Analog(Link):
    """Maps a payload [..., V, T] to complex symbols [..., V, L], L = ceil(T / 2), and back.

    ``scale`` is fixed once on the training payloads so that the mean energy per channel use is 1;
    with unit-variance complex noise of variance N0 this makes SNR = Es/N0 = 1/N0. Real float32
    (float64) payloads become complex64 (complex128) symbols.

    >>> import torch
    >>> from semcom_sim.blocks import Analog
    >>> payload = torch.randn(6, 1, 10)                  # [N, V, T]
    >>> link = Analog.fit(payload)
    >>> sent = link.send(payload)                        # [N, V, L], L = ceil(T / 2)
    >>> sent.shape, sent.dtype
    (torch.Size([6, 1, 5]), torch.complex64)
    >>> round(float(sent.abs().square().mean()), 4)      # unit energy per channel use
    1.0
    """

    Options = AnalogOptions

    def __init__(self, payload_len: int, scale: float, options: AnalogOptions | None = None):
        self.payload_len = payload_len  # T
        self.scale = scale
        self.options = options or AnalogOptions()

    @classmethod
    def cost(cls, options: AnalogOptions, payload_len: int) -> LinkCost:
        return LinkCost(math.ceil(payload_len / 2))

    @classmethod
    def chunk_bytes(cls, options, symbols_per_draw: int, draws: int, decoded_values: int, value_bytes: int) -> int:
        chunk = max(1, min(draws, SYMBOLS_PER_CHUNK // max(1, symbols_per_draw))) * symbols_per_draw
        return chunk * VALUES_PER_SYMBOL * 2 * value_bytes

    @classmethod
    def fit(cls, train_payload: torch.Tensor, options: AnalogOptions | None = None) -> "Analog":
        t = train_payload.shape[-1]
        energy_per_use = train_payload.double().square().sum(-1).mean() / math.ceil(t / 2)  # per symbol
        return cls(t, float(1.0 / energy_per_use.sqrt()), options)

    @property
    def symbols(self) -> int:
        """Complex symbols per vector, L = ceil(T / 2)."""
        return math.ceil(self.payload_len / 2)

    @property
    def channel_uses(self) -> int:  # per transmitted vector
        return self.symbols

    @property
    def receiver_key(self) -> tuple:
        return (type(self).__name__,)  # reference_bits changes the reference only, not what arrives

    def capacity_bits(self) -> int:
        return self.payload_len * self.options.reference_bits

    def modulate(self, payload: torch.Tensor) -> torch.Tensor:
        p = payload * self.scale
        if self.payload_len % 2:
            p = torch.nn.functional.pad(p, (0, 1))  # the padded zero costs no energy
        return torch.view_as_complex(p.reshape(*p.shape[:-1], self.symbols, 2).contiguous())

    def demodulate(self, symbols: torch.Tensor, gain: torch.Tensor | float = 1.0,
                   sent: torch.Tensor | None = None) -> torch.Tensor:
        """symbols [..., V, L] -> payload [..., V, T]; ``gain`` (broadcastable to symbols, e.g. an
        MMSE shrinkage) is folded into the single pass that undoes the power normalisation.
        ``sent``: the symbols were a channel's output for these sent ones; where they are a tensor
        of their own (not a view of ``sent``, nothing to differentiate) that pass runs in place,
        sparing an allocation the size of every draw."""
        factor = gain / self.scale
        own = (sent is not None and symbols.is_contiguous() and not (torch.is_grad_enabled() and symbols.requires_grad)
               and symbols.untyped_storage().data_ptr() != sent.untyped_storage().data_ptr())
        scaled = symbols.mul_(factor) if own else symbols * factor
        p = torch.view_as_real(scaled).reshape(*symbols.shape[:-1], 2 * self.symbols)
        return p[..., : self.payload_len]

    def send(self, payload: torch.Tensor) -> torch.Tensor:
        return self.modulate(payload)  # [N, V, L]

    def draws_per_chunk(self, sent: torch.Tensor, snr_points: int, draws: int) -> int:
        return max(1, min(draws, SYMBOLS_PER_CHUNK // max(1, snr_points * sent.numel())))

    def receive(self, channel, sent: torch.Tensor, no: torch.Tensor, draws: int):
        xs = sent.expand(no.shape[0], draws, *sent.shape)  # [S, r, N, V, L], no copy
        return self.demodulate(*channel.mmse(xs, no), sent=sent), {}

    def receive_each(self, channel, sent: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        # each instance as its own SNR point of one draw: [N, 1, 1, V, L]
        return self.demodulate(*channel.mmse(sent[:, None, None], no))[:, 0, 0]
