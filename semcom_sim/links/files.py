"""Whole files over a link of blocks that pass or fail a CRC (the nr link's transport blocks): what
the ``media`` scheme sends.

Per modality, each instance's file, zero-padded to the modality's largest file (a fixed allocation,
so one block layout, and one BLER table, per modality), is cut into equal segments that each fit
one block (the link's ``carry_files`` chooses them: the fewest, most files take one), 8 bits a
byte, MSB first, each segment a block of the carrying link with the scenario's options. A file
arrives only if every one of its blocks passed (the carrying link's ``failures``: in the nr link's
``monte_carlo`` mode the file's own bits are LDPC-decoded, in ``abstraction`` mode its SINR -> BLER
table -> Bernoulli draw decides). What the receiver reads of a modality is then the embedding of
the decoded file (computed once, :mod:`semcom_sim.transmitter.media`) or, for a lost file, ``mean``.
"""
from __future__ import annotations

import torch

from .base import Link


class Files(Link):
    """Payload [N, M, D]: the embeddings of the decoded files; the files are the link's: ``blocks``
    per modality (the link carrying one segment, B_m segments per file), ``segments`` uint8
    [N, B_m, L_m] per modality. See the module docstring."""

    line_style = "-."

    def __init__(self, options, blocks: list[Link], segments: list[torch.Tensor], mean: torch.Tensor,
                 lost: torch.Tensor):
        self.options, self.blocks, self.bytes, self.mean, self.lost = options, blocks, segments, mean, lost
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
        return {"bler": bler, "file_loss": counts["file_errors"].double() / (draws * payload_shape[0] * payload_shape[1])}
