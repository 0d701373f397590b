"""The ``openclip_text`` encoder: open_clip's text transformer, configured small, with no pretrained
weights, reading open_clip token ids. CLIP's own towers, from an open_clip model config and
optionally pretrained, are ``clip_image`` and ``clip_text`` in :mod:`semcom_sim.encoders.clip`."""
from __future__ import annotations

import torch

from . import ENCODERS
from .base import Encoder, positive_ints


@ENCODERS.register("openclip_text")
class OpenClipText(Encoder):
    """input int64 [N, L] token ids (L = the data's context length) -> [N, D].

    The BPE vocabulary is open_clip's (49,408 tokens); pooling takes the end-of-text token
    (argmax id), as in CLIP.
    """

    modality = "text"
    checked_without_building = True

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, width: int = 32, heads: int = 2,
                 layers: int = 2, vocab_size: int = 49408):
        super().__init__()
        from open_clip.transformer import TextTransformer  # heavy (torchvision, timm): only when built

        (context_length,) = input_shape
        self.net = TextTransformer(context_length=context_length, vocab_size=vocab_size, width=width,
                                   heads=heads, layers=layers, output_dim=dim)

    @classmethod
    def check(cls, dim: int, input_shape: tuple[int, ...], *, width: int = 32, heads: int = 2, layers: int = 2,
              vocab_size: int = 49408) -> None:
        # what TextTransformer would refuse, without importing open_clip (seconds) for `validate`
        if len(input_shape) != 1:
            raise ValueError(f"openclip_text expects [L] token ids, got shape {input_shape}")
        positive_ints(width=width, heads=heads, layers=layers, vocab_size=vocab_size)
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")

    @classmethod
    def parameter_count(cls, dim: int, input_shape: tuple[int, ...], *, width: int = 32, heads: int = 2,
                        layers: int = 2, vocab_size: int = 49408) -> int:
        cls.check(dim, input_shape, width=width, heads=heads, layers=layers, vocab_size=vocab_size)
        (context_length,) = input_shape
        # open_clip's TextTransformer: token and position embeddings, per residual block attention
        # (4w^2 + 4w), MLP (8w^2 + 5w) and two layer norms (4w), final norm, projection to dim
        block = 12 * width * width + 13 * width
        return (vocab_size + context_length) * width + layers * block + 2 * width + width * dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
