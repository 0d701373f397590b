"""open_clip's text transformer, configured small, reading open_clip token ids."""
from __future__ import annotations

import torch
from open_clip.transformer import TextTransformer

from . import ENCODERS
from .base import Encoder


@ENCODERS.register("openclip_text")
class OpenClipText(Encoder):
    """input int64 [N, L] token ids (L = the data's context length) -> [N, D].

    The BPE vocabulary is open_clip's (49,408 tokens); pooling takes the end-of-text token
    (argmax id), as in CLIP.
    """

    modality = "text"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, width: int = 32, heads: int = 2,
                 layers: int = 2, vocab_size: int = 49408):
        super().__init__()
        (context_length,) = input_shape
        self.net = TextTransformer(context_length=context_length, vocab_size=vocab_size, width=width,
                                   heads=heads, layers=layers, output_dim=dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
