"""Linear classification heads, fitted with scikit-learn and applied with torch.

The head is fitted once on clean training payloads; evaluation then runs on every channel
output of the channel stage at once, so inference is a single batched matmul on the run's device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..registry import Registry

# name -> fit(features [N, F], labels, l2, tol) -> a head with ``logits``; ``receiver.head`` names one
HEADS: Registry = Registry("head")

# the receiver's heads' stopping tolerance (the reconstruction classifiers have their own, PROBE_TOL)
HEAD_TOL = 1e-6


@dataclass(frozen=True)
class LinearHead:
    """A linear classifier on received features: ``logits`` maps [..., F] to [..., C] in the
    dtype of ``weight``; :func:`fit_linear_head` fits one.

    >>> import torch
    >>> from semcom_sim.blocks import LinearHead
    >>> LinearHead(weight=torch.eye(2), bias=torch.zeros(2)).logits(torch.tensor([[3.0, 1.0]]))
    tensor([[3., 1.]])
    """

    weight: torch.Tensor  # [C, F]
    bias: torch.Tensor  # [C]

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [..., C]"""
        return torch.addmm(self.bias, features.reshape(-1, features.shape[-1]), self.weight.T).reshape(
            *features.shape[:-1], -1)


@HEADS.register("logistic")
def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, l2: float, tol: float = HEAD_TOL) -> LinearHead:
    """Logistic regression on [N, F] features; ``l2`` is the ridge penalty (sklearn C = 1/l2),
    ``tol`` the solver's stopping tolerance.

    labels [N]: one multinomial model; labels [N, C] multi-hot: one binary model per class
    (one-vs-rest), whose logits are then independent per class. The head has the features'
    dtype and device.

    >>> import torch
    >>> from semcom_sim.blocks import fit_linear_head
    >>> features = torch.tensor([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> head = fit_linear_head(features, labels, l2=1e-3)
    >>> head.logits(features).argmax(-1)
    tensor([0, 0, 1, 1])
    """
    from sklearn.linear_model import LogisticRegression  # 0.1 s to import: not at start-up

    x = features.detach().double().cpu().numpy()
    y = labels.cpu().numpy()
    c = 1.0 / l2 if l2 > 0 else np.inf
    if y.ndim == 1:
        clf = LogisticRegression(C=c, max_iter=2000, tol=tol).fit(x, y)
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one logit, of class 1 against class 0
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    else:
        coef, intercept = np.zeros((y.shape[1], x.shape[1])), np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():
                # a class that is always (or never) present in training: a constant logit says so
                intercept[j] = 20.0 if y[0, j] else -20.0
                continue
            clf = LogisticRegression(C=c, max_iter=2000, tol=tol).fit(x, y[:, j])
            coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return LinearHead(torch.as_tensor(coef, dtype=features.dtype, device=features.device),
                      torch.as_tensor(intercept, dtype=features.dtype, device=features.device))


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """logits [..., N, C], labels [N] (or multi-hot [N, C]) -> [...]: fraction of instances with a
    true label among the k highest logits (for multi-label data, k = 1 is precision@1).

    >>> import torch
    >>> from semcom_sim.blocks import topk_accuracy
    >>> topk_accuracy(torch.tensor([[2.0, 1.0], [2.0, 1.0]]), torch.tensor([0, 1]), k=1)
    tensor(0.5000)
    """
    return _topk_accuracies(logits, labels, (k,))[k]


def _topk_accuracies(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """{k: topk_accuracy(logits, labels, k)} from one ``topk`` at the largest k: its first k
    columns are the top k."""
    top = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices
    if labels.dim() == 2:
        hit = torch.gather(labels.expand(*top.shape[:-1], labels.shape[-1]), -1, top) > 0
    else:
        hit = top == labels.unsqueeze(-1)
    return {k: hit[..., :k].any(-1).float().mean(-1) for k in ks}


def mean_average_precision(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits [..., N, C], multi-hot labels [N, C] -> mAP [...]: average precision per class
    (mean precision at the rank of each positive, as sklearn's average_precision_score for untied
    scores), averaged over the classes with at least one positive."""
    order = logits.argsort(dim=-2, descending=True)  # rank instances per class
    pos = torch.gather(labels.expand(*logits.shape), -2, order)
    ranks = torch.arange(1, labels.shape[0] + 1, device=logits.device, dtype=logits.dtype).unsqueeze(-1)
    precision = pos.cumsum(-2) / ranks
    n_pos = labels.sum(0)
    ap = (precision * pos).sum(-2) / n_pos.clamp(min=1)
    present = n_pos > 0
    return ap[..., present].mean(-1)


def micro_f1(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits [..., N, C], multi-hot labels [N, C] -> micro-averaged F1 [...] at probability 0.5."""
    pred = (logits > 0).to(labels.dtype)
    tp = (pred * labels).sum((-2, -1))
    return 2 * tp / (pred.sum((-2, -1)) + labels.sum())


def score(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric results.csv reports for one batch of logits [..., N, C], each of shape [...].

    >>> import torch
    >>> from semcom_sim.blocks import score
    >>> logits = torch.tensor([[[2.0, 1.0], [2.0, 1.0]], [[2.0, 1.0], [1.0, 2.0]]])   # [S=2, N=2, C=2]
    >>> score(logits, torch.tensor([0, 1]))["acc_top1"]
    tensor([0.5000, 1.0000])
    """
    top = _topk_accuracies(logits, labels, (1, 5))
    out = {"acc_top1": top[1], "acc_top5": top[5]}
    if labels.dim() == 2:
        out.update(map=mean_average_precision(logits, labels), micro_f1=micro_f1(logits, labels))
    return out
