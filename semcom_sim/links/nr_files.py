"""Whole files over the 5G NR link (``links/nr.py``): what the ``media`` scheme sends.

Per modality, each instance's file, zero-padded to the modality's largest file (a fixed allocation,
so one transport-block layout, and one BLER table, per modality), is cut into the fewest equal
segments that each fit one TS 38.214 transport block (one slot and layer; most files take one),
8 bits a byte, MSB first; each segment is a transport block of the nr link with the scenario's
options (MCS, mode, decoder iterations). A file arrives only if every one of its blocks passed its
CRC: in ``monte_carlo`` mode the file's own bits are LDPC-decoded, in ``abstraction`` mode the
nr link's SINR -> BLER table -> Bernoulli draw decides. What the receiver reads of a modality is
then the embedding of the decoded file (computed once, :mod:`semcom_sim.transmitter.media`) or,
for a lost file, ``mean``.
"""
from __future__ import annotations

import math

import torch

from .base import Link
from .nr import NR, NROptions, mcs, tb_layout


def segments(n_bytes: int, qm: int, rate: float) -> int:
    """The fewest equal segments of an ``n_bytes`` file that each fit one transport block."""
    b = 1
    while True:
        try:
            tb_layout(8 * math.ceil(n_bytes / b), qm, rate)
            return b
        except ValueError:
            b += 1


class NRFiles(Link):
    """Payload [N, M, D]: the embeddings of the decoded files; the files themselves are the link's
    (``files`` uint8 [N, L_m] per modality): see the module docstring."""

    line_style = "-."

    def __init__(self, options: NROptions, files: list[torch.Tensor], mean: torch.Tensor, lost: torch.Tensor):
        self.options = options
        qm, rate = mcs(options.mcs_table, options.mcs_index)
        per_byte = options.model_copy(update={"bits": 8})  # a byte per payload value: the file's own bits
        self.blocks, self.bytes = [], []
        for f in files:
            b = segments(f.shape[1], qm, rate)
            length = math.ceil(f.shape[1] / b)
            padded = torch.nn.functional.pad(f, (0, b * length - f.shape[1])).reshape(f.shape[0], b, length)
            # the quantiser over [0, 256) with 8 bits has unit cells: byte value k is code k exactly
            self.blocks.append(NR(length, 0.0, 256.0, torch.zeros(b, length), per_byte))
            self.bytes.append(padded)
        self.mean, self.lost = mean, lost

    @property
    def channel_uses(self) -> int:
        """Per instance: every segment of every modality's file."""
        return sum(nr.n_re * f.shape[1] for nr, f in zip(self.blocks, self.bytes))

    @property
    def info_bits(self) -> int:
        return sum(nr.info_bits * f.shape[1] for nr, f in zip(self.blocks, self.bytes))

    def instance_uses(self, v: int) -> int:
        return self.channel_uses

    def instance_bits(self, v: int) -> int:
        return self.info_bits

    def energy_uses(self, v: int) -> int:
        return self.channel_uses

    def capacity_bits(self) -> int:
        return self.info_bits

    def delivered(self, channel, v: int, snr: torch.Tensor) -> torch.Tensor | None:
        """Each modality's file delivered by a capacity-achieving code in its own channel uses."""
        out = None
        for nr, f in zip(self.blocks, self.bytes):
            p = channel.delivery_probability(nr.info_bits * f.shape[1], nr.n_re * f.shape[1], snr)
            if p is None:
                return None
            out = p if out is None else out * p
        return out

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        return torch.where(self.lost.to(payload.device).unsqueeze(-1), self.mean.to(payload), payload)

    def send(self, payload: torch.Tensor):
        return payload, [nr.send(f.to(payload.device, payload.dtype)) for nr, f in zip(self.blocks, self.bytes)]

    def draws_per_chunk(self, sent, snr_points: int, draws: int) -> int:
        return min(nr.draws_per_chunk(s, snr_points, draws) for nr, s in zip(self.blocks, sent[1]))

    def receive(self, channel, sent, no: torch.Tensor, draws: int):
        payload, per_modality = sent
        failed = [nr.failures(channel, s, no, draws) for nr, s in zip(self.blocks, per_modality)]  # [S, r, N, B_m]
        lost = torch.stack([f.any(-1) for f in failed], -1) | self.lost.to(payload.device)  # [S, r, N, M]
        hat = torch.where(lost.unsqueeze(-1), self.mean.to(payload), payload)
        counts = {"block_errors": sum(f.sum((1, 2, 3)) for f in failed), "file_errors": lost.sum((1, 2, 3))}
        return hat, counts

    def error_rates(self, counts, draws: int, payload_shape) -> dict[str, torch.Tensor]:
        blocks = draws * payload_shape[0] * sum(f.shape[1] for f in self.bytes)
        bler = counts["block_errors"].double() / blocks
        return {"bler": bler, "file_loss": counts["file_errors"].double() / (draws * payload_shape[0] * payload_shape[1]),
                "mcs_index": torch.full_like(bler, float(self.options.mcs_index))}
