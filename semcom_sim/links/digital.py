from __future__ import annotations

from typing import Any

import torch

from . import LINKS
from .base import Link

# the demapper holds one distance per symbol and constellation point: bounds memory per chunk of draws
DEMAPPER_ENTRIES_PER_CHUNK = 1 << 24


@LINKS.register("digital")
class Digital(Link):
    """Uniform quantiser, 5G LDPC code and QAM (``transmitter/digital.py``), one codeword per
    vector; APP demapper and belief propagation at the receiver (``receiver/digital.py``)."""

    def __init__(self, link):
        from ..receiver.digital import DigitalDetector

        self.link = link
        self.detector = DigitalDetector(link)

    @classmethod
    def sizes(cls, payload_len: int, tx: Any, scenario: Any) -> tuple[int, int]:
        from ..transmitter.digital import coded_bits

        bps = scenario.transmitter.digital.bits_per_symbol
        n = coded_bits(payload_len * tx.bits, tx.code_rate, bps)
        return n // bps, n

    @classmethod
    def check(cls, payload_len: int, tx: Any, scenario: Any) -> None:
        """A code that 5G LDPC cannot build (k, n, rate limits) is refused before anything runs."""
        from ..transmitter.digital import DigitalLink

        dig = scenario.transmitter.digital
        DigitalLink(payload_len=payload_len, bits=tx.bits, lo=-1.0, hi=1.0, code_rate=tx.code_rate,
                    bits_per_symbol=dig.bits_per_symbol, ldpc_iterations=dig.ldpc_iterations)

    @classmethod
    def fit(cls, train_payload: torch.Tensor, tx: Any, scenario: Any) -> "Digital":
        from ..transmitter.digital import DigitalLink

        dig = scenario.transmitter.digital
        return cls(DigitalLink.fit(train_payload, bits=tx.bits, code_rate=tx.code_rate,
                                   bits_per_symbol=dig.bits_per_symbol, ldpc_iterations=dig.ldpc_iterations))

    @property
    def channel_uses(self) -> int:
        return self.link.channel_uses

    @property
    def info_bits(self) -> int:
        return self.link.info_bits

    def capacity_bits(self, bits_per_value: int) -> int:
        return self.link.info_bits  # the same bits as the practical code, in the same channel uses

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        return self.link.dequantize(self.link.quantize(payload), payload.dtype)  # exactly the quantised payload

    def send(self, payload: torch.Tensor):
        return self.link.encode(payload)  # (u bits [N, V, k], x symbols [N, V, L])

    def draws_per_chunk(self, sent, snr_points: int, draws: int) -> int:
        per_draw = snr_points * sent[1].numel() * 2 ** self.link.bits_per_symbol
        return max(1, min(draws, DEMAPPER_ENTRIES_PER_CHUNK // per_draw))

    def receive(self, channel, sent, no: torch.Tensor, draws: int):
        u, x = sent
        x_u, no_eff = channel(x.expand(no.shape[0], draws, *x.shape), no)
        u_hat = self.detector(x_u, no_eff)  # [S, r, N, V, k]
        wrong = u_hat != u
        # per SNR point, which Sionna's count_errors / count_block_errors (whole-tensor sums) do not give
        counts = {"bit_errors": wrong.sum((1, 2, 3, 4)), "block_errors": wrong.any(-1).sum((1, 2, 3))}
        return self.link.dequantize(self.link.from_bits(u_hat), u.dtype), counts

    def receive_each(self, channel, sent, no: torch.Tensor) -> torch.Tensor:
        u, x = sent
        x_u, no_eff = channel(x[:, None, None], no)  # each instance as its own SNR point of one draw
        return self.link.dequantize(self.link.from_bits(self.detector(x_u, no_eff)[:, 0, 0]), u.dtype)

    def error_rates(self, counts, draws: int, payload_shape) -> dict[str, torch.Tensor]:
        blocks = draws * payload_shape[0] * payload_shape[1]
        return {"ber": counts["bit_errors"] / (blocks * self.link.info_bits),
                "bler": counts["block_errors"] / blocks}
