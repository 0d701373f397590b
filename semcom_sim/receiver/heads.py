"""Linear classification heads, fitted with SciPy's L-BFGS on a loss computed in torch, and applied with torch.

The head is fitted once on clean training payloads; evaluation then runs on every channel
output of the channel stage at once, so inference is a single batched matmul on the run's device.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..registry import Registry
from .gemm import linear
from .retrieval import rank_of

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
        return linear(features, self.weight, self.bias)


@HEADS.register("logistic")
def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, l2: float, tol: float = HEAD_TOL) -> LinearHead:
    """Logistic regression on [N, F] features; ``l2`` is the ridge penalty (sklearn C = 1/l2),
    ``tol`` the solver's stopping tolerance.

    labels [N]: one multinomial model; labels [N, C] multi-hot: one binary model per class
    (one-vs-rest), whose logits are then independent per class. The head has the features'
    dtype and device.

    The model and its solver are scikit-learn's ``LogisticRegression(C=1/l2, tol=tol)`` with
    L-BFGS: the same objective (mean log-loss + l2 / (2 N) ||W||^2, the intercept unpenalised; two
    classes as one binomial logit), SciPy's L-BFGS-B from zero with scikit-learn's options. Only
    the loss and its gradient are computed here, in float64 as scikit-learn's, but in torch on the
    features' device and its threads (scikit-learn's softmax runs on one thread of the CPU); the
    agreement measured is in docs/guide/receivers.md.

    >>> import torch
    >>> from semcom_sim.blocks import fit_linear_head
    >>> features = torch.tensor([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> head = fit_linear_head(features, labels, l2=1e-3)
    >>> head.logits(features).argmax(-1)
    tensor([0, 0, 1, 1])
    """
    x = features.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()):  # as scikit-learn's input check: a NaN would end in NaN weights
        raise ValueError("a head's training features hold a value that is not finite")
    y = labels.to(x.device)
    if y.dim() == 1:
        classes = torch.unique(y)  # sorted: logit j is the j-th class present, as sklearn's classes_
        if classes.numel() < 2:
            raise ValueError(f"a head needs at least two classes in its training labels, got {classes.tolist()}")
        if classes.numel() == 2:  # one binomial logit, of the second class against the first
            coef, intercept = _fit_binomial(x, (y == classes[1]).to(torch.float64), l2, tol)
            coef, intercept = torch.stack([torch.zeros_like(coef), coef]), torch.stack([intercept.new_zeros(()), intercept])
        else:
            coef, intercept = _fit_multinomial(x, torch.searchsorted(classes, y), classes.numel(), l2, tol)
    else:
        coef = torch.zeros(y.shape[1], x.shape[1], dtype=torch.float64, device=x.device)
        intercept = torch.zeros(y.shape[1], dtype=torch.float64, device=x.device)
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():
                # a class that is always (or never) present in training: a constant logit says so
                intercept[j] = 20.0 if y[0, j] else -20.0
                continue
            coef[j], intercept[j] = _fit_binomial(x, (y[:, j] > 0).to(torch.float64), l2, tol)
    return LinearHead(coef.to(features.dtype).contiguous(), intercept.to(features.dtype).contiguous())


# what fits a head, in the fit cache's key: SciPy's L-BFGS-B on the loss computed here
HEAD_SOLVER = "scipy-lbfgsb+torch-loss-by-class"
# scikit-learn's L-BFGS settings for LogisticRegression (max_iter as the receiver has always set it)
HEAD_MAX_ITER = 2000
_LBFGS_OPTIONS = {"maxiter": HEAD_MAX_ITER, "maxls": 50, "ftol": 64 * np.finfo(float).eps}


def _lbfgs(loss_grad, size: int, tol: float) -> np.ndarray:
    """Minimise ``loss_grad(w) -> (loss, gradient)`` over float64 w [size] from zero with SciPy's
    L-BFGS-B, stopping where the gradient's largest component falls below ``tol``."""
    from scipy.optimize import minimize  # not at start-up
    from threadpoolctl import threadpool_limits

    # L-BFGS-B's own vector work on one thread: SciPy's BLAS threads would contend with torch's
    # (which compute the loss) for the same cores; a fit of 300 x 48 features took 18x as long
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(loss_grad, np.zeros(size), method="L-BFGS-B", jac=True, options={**_LBFGS_OPTIONS, "gtol": tol})
    if res.status != 0:  # as scikit-learn's ConvergenceWarning: the head is used, and said to be so
        warnings.warn(f"a receiver head's L-BFGS stopped before its tolerance {tol:g}: {res.message}", RuntimeWarning,
                      stacklevel=3)
    return res.x


def _fit_multinomial(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float, tol: float):
    """Multinomial logistic regression of class indices y [N] on float64 x [N, F] -> (coef [C, F],
    intercept [C]), float64 on x's device."""
    n, f = x.shape
    penalty = l2 / n  # scikit-learn's 1 / (C N)
    rows = y.unsqueeze(0)  # [1, N]: each instance's class, the row of its logit

    def loss_grad(w: np.ndarray):
        w = torch.from_numpy(w).view(f + 1, classes).to(x.device)  # scikit-learn's layout: a feature's classes together
        coef_t = w[:f]  # [F, C]
        # the logits class by class, [C, N]: MKL forms this product 1.8x as fast as [N, C] on an
        # AMD CPU (16,000 x 1,536 by 1,536 x 100 in float64), and the sums over classes below then
        # run along contiguous rows of instances
        raw = torch.addmm(w[f].unsqueeze(1), coef_t.T, x.T)
        own = raw.gather(0, rows).sum()
        top = raw.amax(0, keepdim=True)
        p = raw.sub_(top).exp_()  # one exp serves the log-sum-exp and the softmax
        total = p.sum(0, keepdim=True)
        loss = (top.sum() + total.log().sum() - own) / n + 0.5 * penalty * coef_t.square().sum()
        p.div_(total).scatter_add_(0, rows, p.new_full(rows.shape, -1.0)).div_(n)  # softmax - one-hot
        grad = torch.empty(f + 1, classes, dtype=torch.float64, device=x.device)
        torch.add(torch.mm(p, x).T, coef_t, alpha=penalty, out=grad[:f])
        torch.sum(p, 1, out=grad[f])
        return float(loss), grad.view(-1).cpu().numpy()

    w = torch.from_numpy(_lbfgs(loss_grad, classes * (f + 1), tol)).view(f + 1, classes).to(x.device)
    return w[:f].T, w[f]


def _fit_binomial(x: torch.Tensor, y: torch.Tensor, l2: float, tol: float):
    """Binary logistic regression of y [N] (0 or 1, float64) on float64 x [N, F] -> (coef [F],
    intercept []), float64 on x's device."""
    n, f = x.shape
    penalty = l2 / n

    def loss_grad(w: np.ndarray):
        w = torch.from_numpy(w).to(x.device)
        coef = w[:f]
        raw = torch.addmv(w[f], x, coef)  # [N]
        loss = (torch.nn.functional.softplus(raw) - y * raw).sum() / n + 0.5 * penalty * coef.square().sum()
        p = raw.sigmoid_().sub_(y).div_(n)
        grad = torch.empty(f + 1, dtype=torch.float64, device=x.device)
        torch.add(torch.mv(x.T, p), coef, alpha=penalty, out=grad[:f])
        grad[f] = p.sum()
        return float(loss), grad.cpu().numpy()

    w = torch.from_numpy(_lbfgs(loss_grad, f + 1, tol)).to(x.device)
    return w[:f], w[f]


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """logits [..., N, C], labels [N] (or multi-hot [N, C]) -> [...]: fraction of instances with a
    true label among the k highest logits (for multi-label data, k = 1 is precision@1). A single
    label's rank follows retrieval's tie rule (``receiver.retrieval.rank_of``): every other class
    whose logit is at least as high counts above it, and a NaN logit of the true class is never
    among the top k.

    >>> import torch
    >>> from semcom_sim.blocks import topk_accuracy
    >>> topk_accuracy(torch.tensor([[2.0, 1.0], [2.0, 1.0]]), torch.tensor([0, 1]), k=1)
    tensor(0.5000)
    >>> topk_accuracy(torch.tensor([[1.0, 1.0], [2.0, 1.0]]), torch.tensor([0, 0]), k=1)   # a tie: not top-1
    tensor(0.5000)
    """
    return _topk_accuracies(logits, labels, (k,))[k]


def _topk_accuracies(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """{k: topk_accuracy(logits, labels, k)}: single labels from the true class's rank, one
    comparison pass for every k (4x faster than a ``topk`` over 100 classes); multi-hot labels
    from one ``topk`` at the largest k, whose first k columns are the top k."""
    if labels.dim() == 1:
        rank = rank_of(logits, labels.to(logits.device))
        return {k: (rank < k).float().mean(-1) for k in ks}
    top = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices
    hit = torch.gather(labels.expand(*top.shape[:-1], labels.shape[-1]), -1, top) > 0
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
