"""The container every data source returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MultimodalData:
    """N instances, each observed in every modality; row i of each input is instance i.

    inputs[m]: tensor [N, ...] of modality m in the form its encoder reads
    labels: int64 [N] class of each instance, or float [N, C] multi-hot for multi-label data
    raw_sizes[m]: number of raw values of one instance of modality m (for TOI)
    """

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    class_names: tuple[str, ...]
    raw_sizes: dict[str, int]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def select(self, modalities: tuple[str, ...]) -> "MultimodalData":
        return MultimodalData({m: self.inputs[m] for m in modalities}, self.labels, self.class_names,
                              {m: self.raw_sizes[m] for m in modalities})

    def subset(self, idx: np.ndarray | torch.Tensor) -> "MultimodalData":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return MultimodalData({m: x[idx] for m, x in self.inputs.items()}, self.labels[idx],
                              self.class_names, self.raw_sizes)

    def to(self, device: torch.device, dtype: torch.dtype) -> "MultimodalData":
        def move(x: torch.Tensor) -> torch.Tensor:
            return x.to(device, dtype) if x.is_floating_point() else x.to(device)

        return MultimodalData({m: move(x) for m, x in self.inputs.items()}, move(self.labels),
                              self.class_names, self.raw_sizes)
