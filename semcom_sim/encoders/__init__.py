"""Encoders f^m: raw modality input -> unit-norm D-dimensional embedding (docs/method.md, section
'Setting')."""
from __future__ import annotations

from ..registry import Registry
from .base import Encoder

ENCODERS: Registry = Registry("encoder")

# the import order is the registration order, which iterating ENCODERS follows
from . import audio, identity, image, clip, openclip_text  # noqa: E402,F401  (register the built-in encoders)


def build_encoder(name: str, dim: int, input_shape: tuple[int, ...], options: dict) -> Encoder:
    """``input_shape`` is one instance's shape, so an encoder adapts to its data (8x8 or 28x28, ...)."""
    return ENCODERS[name](dim, input_shape, **options)


__all__ = ["ENCODERS", "Encoder", "build_encoder"]
