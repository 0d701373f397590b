"""The receiver: a classification head and, optionally, one decoder per modality, applied together
to whatever payload arrives (clean, or every SNR point and channel draw at once)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .decoders import Decoder
from .heads import LinearHead, score
from .reconstruction import ReconstructionMetrics


@dataclass
class Receiver:
    head: LinearHead
    labels: torch.Tensor  # test labels [N]
    # modality -> (index of the payload vector it reads, its decoder, its metrics, test targets)
    decoders: dict[str, tuple[int, Decoder, ReconstructionMetrics, torch.Tensor]] = field(default_factory=dict)

    def measure(self, payload: torch.Tensor) -> dict[str, torch.Tensor]:
        """payload [..., N, V, T] -> every results.csv metric, each of shape [...]."""
        out = score(self.head.logits(payload.flatten(-2)), self.labels)
        if not self.decoders:
            return out
        # decoder outputs are large (a log-mel is 2,016 values): one leading slice at a time
        slices = [payload] if payload.dim() == 3 else list(payload.flatten(0, -4))
        parts: dict[str, list[torch.Tensor]] = {}
        for p in slices:
            for vector, decoder, metrics, targets in self.decoders.values():
                for k, v in metrics(decoder(p[..., vector, :]), targets, self.labels).items():
                    parts.setdefault(k, []).append(v)
        lead = payload.shape[:-3]
        out.update({k: torch.stack(v).reshape(lead) for k, v in parts.items()})
        return out

    @torch.no_grad()
    def reconstruct(self, payload: torch.Tensor) -> dict[str, torch.Tensor]:
        """payload [..., N, V, T] -> each modality's decoded reconstruction (tokens for text)."""
        return {m: decoder.decode(payload[..., vector, :]) for m, (vector, decoder, _, _) in self.decoders.items()}
