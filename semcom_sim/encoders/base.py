from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    """Subclasses set ``modality`` and implement ``features``; the output is L2-normalised here once.

    ``prepare`` is a fixed, parameter-free front end (e.g. a log-mel spectrogram). Training and
    evaluation apply it once per data set instead of once per epoch; ``forward`` chains both.
    """

    modality: str = ""

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:  # prepared [N, ...] -> [N, D]
        raise NotImplementedError

    def embed_prepared(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_prepared(self.prepare(x))
