"""Linear classification heads, fitted with scikit-learn and applied with torch.

The head is fitted once on clean training payloads; evaluation then runs on every channel
output of the sweep at once, so inference is a single batched matmul on the run's device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class LinearHead:
    weight: torch.Tensor  # [C, F]
    bias: torch.Tensor  # [C]

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [..., C]"""
        return torch.addmm(self.bias, features.reshape(-1, features.shape[-1]), self.weight.T).reshape(
            *features.shape[:-1], -1)


def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, l2: float) -> LinearHead:
    """Multinomial logistic regression on [N, F] features; ``l2`` is the ridge penalty (sklearn C = 1/l2)."""
    x = features.detach().double().cpu().numpy()
    y = labels.cpu().numpy()
    clf = LogisticRegression(C=1.0 / l2 if l2 > 0 else np.inf, max_iter=2000, tol=1e-6)
    clf.fit(x, y)
    return LinearHead(torch.as_tensor(clf.coef_, dtype=features.dtype, device=features.device),
                      torch.as_tensor(clf.intercept_, dtype=features.dtype, device=features.device))


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """logits [..., N, C], labels [N] -> accuracy [...]: fraction of instances whose label is in the top k."""
    k = min(k, logits.shape[-1])
    top = logits.topk(k, dim=-1).indices
    return (top == labels.unsqueeze(-1)).any(-1).float().mean(-1)
