"""Small CNN for low-resolution grey images (8x8 digits, 28x28 MNIST)."""
from __future__ import annotations

import torch
from torch import nn

from . import ENCODERS
from .base import Encoder, positive_ints


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.GELU())


@ENCODERS.register("small_cnn")
class SmallCNN(Encoder):
    """input [N, C, H, W] in [0, 1] -> [N, D]; two conv stages, one 2x2 pooling, then a linear map."""

    modality = "image"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, width: int = 16):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"small_cnn expects [C, H, W] images, got shape {input_shape}")
        positive_ints(width=width)
        c, h, w = input_shape
        self.net = nn.Sequential(
            _block(c, width), _block(width, width), nn.MaxPool2d(2),
            _block(width, 2 * width), nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(),
            nn.Linear(2 * width * 16, dim),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
