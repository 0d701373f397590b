from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def positive_ints(**values: object) -> None:
    """Raise ValueError naming the first option that is not a positive integer: what a user can get
    wrong in a size, refused in words before torch fails on it deep inside a layer."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class Encoder(nn.Module):
    """Subclasses set ``modality`` and implement ``features``; the output is L2-normalised here once.

    ``prepare`` is a fixed, parameter-free front end (e.g. a log-mel spectrogram). Training and
    evaluation apply it once per data set instead of once per epoch; ``forward`` chains both.
    """

    modality: str = ""

    # True where ``check`` does not build the encoder: ``run`` then builds it once before any work
    checked_without_building: bool = False

    @classmethod
    def check(cls, dim: int, input_shape: tuple[int, ...], **options) -> None:
        """Raise ValueError/TypeError for options this encoder cannot be built with, cheaply:
        ``semcom-sim validate`` calls it. The default builds the encoder once on the CPU
        (milliseconds); an encoder whose construction needs a heavy import overrides it with
        plain checks and sets ``checked_without_building``."""
        cls(dim, input_shape, **options)

    @classmethod
    def parameter_count(cls, dim: int, input_shape: tuple[int, ...], **options) -> int | None:
        """Number of parameters for the memory budget, where it is known without building (None:
        the budget builds the encoder with big tensors on the meta device to count them)."""
        return None

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:  # prepared [N, ...] -> [N, D]
        raise NotImplementedError

    def embed_prepared(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_prepared(self.prepare(x))
