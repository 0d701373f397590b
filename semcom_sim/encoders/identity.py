"""The ``identity`` encoder: the input row is the embedding, for data that are embeddings already
(the ``embeddings`` source: CLIP, ImageBind, CLAP outputs made elsewhere)."""
from __future__ import annotations

import math

import torch

from . import ENCODERS
from .base import Encoder


@ENCODERS.register("identity")
class Identity(Encoder):
    """input [N, ...] -> [N, D], the input flattened (then unit-normalised by ``Encoder``); no
    parameters, so nothing is trained. ``embedding_dim`` must equal the values per instance."""

    modality = ""  # any modality

    def __init__(self, dim: int, input_shape: tuple[int, ...]):
        super().__init__()
        size = math.prod(input_shape)
        if size != dim:
            raise ValueError(f"embedding_dim is {dim} but the data have {size} values per instance; the identity "
                             f"encoder passes its input through, so set embedding_dim: {size}")

    @classmethod
    def parameter_count(cls, dim: int, input_shape: tuple[int, ...], **options) -> int | None:
        return 0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)
