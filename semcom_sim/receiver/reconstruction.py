"""Reconstruction quality at the receiver ([MG] Table 1: MAE, MSE, Acc@1 of the reconstruction).

Every metric reduces over the instances and the target's own dimensions and keeps all leading
dimensions, so reconstructions [S, R, N, ...] of every SNR point and draw are scored in one call.

A decoder class names how its reconstructions are scored (its ``metrics``, one of the kinds
below); ``fit`` fixes the kind on the modality's training targets. Scaling to [0, 1], so that MAE
and MSE of different modalities are comparable:

- ``FixedRange(low, high)``: a field with known bounds (image pixels: [0, 1]) is mapped affinely
  from [low, high] to [0, 1]; ``psnr`` adds ``psnr_<modality>`` on that scale;
- ``TrainingRange()``: an unbounded field (the log-mel spectrogram, normalised per utterance; the
  raw inputs of ``field_mlp``) is mapped with the *training set's* global minimum and maximum,
  fixed once, and clipped to [0, 1]. One affine map for all instances keeps the error proportional
  to the error in the data's units (a per-instance min-max would weigh each instance differently),
  and fixing it on the training set makes the scale independent of what is evaluated. Clipping
  only touches values beyond the training range;
- ``Tokens()``: a caption has no values to scale, so the error is measured between the predicted
  token distribution p (softmax of the decoder's logits) and the one-hot target at each position:
  MAE is the total-variation distance ||p - onehot||_1 / 2 = 1 - p(target) and MSE the halved
  Brier score ||p - onehot||_2^2 / 2. Both lie in [0, 1], do not shrink as the vocabulary grows (a
  mean over the vocabulary would divide them by its size), and equal the token error rate for a
  hard decision.

Caption positions: the start token (position 0, the same in every caption) and padding are left
out of every token metric, since predicting them says nothing about the caption; the end token
counts, as it fixes the caption's length.

Columns: ``mae_<modality>``, ``mse_<modality>``, ``acc_recon_<modality>`` (Acc@1 of a fixed
classifier on the reconstruction), then ``psnr_<modality>`` (fixed range with ``psnr``) or
``token_acc_<modality>`` (tokens).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .heads import LinearHead, fit_linear_head, topk_accuracy

# fit(features [N, F], labels [N], l2, tol) -> LinearHead: fit_linear_head or its cached form
FitHead = Callable[[torch.Tensor, torch.Tensor, float, float], LinearHead]

# per-instance MSE floor for PSNR: a perfect reconstruction scores 100 dB, not infinity
_MSE_FLOOR = 1e-10


def unit_scale(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Values mapped affinely so that ``low`` -> 0 and ``high`` -> 1, clipped to [0, 1]."""
    return ((x - low) / (high - low)).clamp(0.0, 1.0)


def mae(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """recon [..., N, *shape], target [N, *shape] -> mean absolute error [...]."""
    return (recon - target).abs().flatten(-target.dim()).mean(-1)


def mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """recon [..., N, *shape], target [N, *shape] -> mean squared error [...]."""
    return (recon - target).square().flatten(-target.dim()).mean(-1)


def psnr(recon: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """recon [..., N, *shape], target [N, *shape] (images: [C, H, W]) -> PSNR in dB [...], averaged
    over the instances.

    10 log10(peak^2 / MSE_i) per instance i, then the mean over the N instances (as image-compression
    papers report it); each instance's MSE is floored at 1e-10, so a perfect one scores 100 dB.
    """
    per_instance = (recon - target).square().flatten(1 - target.dim()).mean(-1).clamp_min(_MSE_FLOOR)
    return (10.0 * torch.log10(peak**2 / per_instance)).mean(-1)


def caption_vocabulary(tokens: torch.Tensor) -> torch.Tensor:
    """Sorted int64 [K]: the distinct token ids (padding included) of training captions [N, L]."""
    return torch.unique(tokens)


def token_index(tokens: torch.Tensor, vocabulary: torch.Tensor) -> torch.Tensor:
    """Token ids [...] -> their positions in the sorted ``vocabulary`` [K]; -1 for ids not in it."""
    pos = torch.searchsorted(vocabulary, tokens).clamp(max=vocabulary.numel() - 1)
    return torch.where(vocabulary[pos] == tokens, pos, -1)


def caption_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Target token ids [N, L] -> bool [N, L]: the positions token metrics count (see module doc)."""
    mask = tokens != 0
    mask[:, 0] = False
    return mask


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [..., N, L], mask [N, L] -> mean over the masked positions [...]."""
    return (x * mask).sum((-2, -1)) / mask.sum()


def token_errors(logits: torch.Tensor, targets: torch.Tensor,
                 vocabulary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [..., N, L, K] over ``vocabulary`` [K], target ids [N, L] -> (MAE [...], MSE [...]).

    MAE = 1 - p(target), MSE = ||p - onehot(target)||^2 / 2 per position, averaged over the
    counted positions. A target id outside the vocabulary has probability 0.
    """
    p = logits.softmax(-1)
    idx = token_index(targets, vocabulary)
    p_target = p.gather(-1, idx.clamp_min(0).expand(*p.shape[:-1]).unsqueeze(-1)).squeeze(-1) * (idx >= 0)
    mask = caption_mask(targets)
    mae_ = _masked_mean(1.0 - p_target, mask)
    mse_ = _masked_mean(0.5 * (p.square().sum(-1) - 2.0 * p_target + 1.0), mask)
    return mae_, mse_


def token_accuracy(tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Decoded ids [..., N, L] vs target ids [N, L] -> fraction of counted positions that match [...]."""
    return _masked_mean((tokens == targets).float(), caption_mask(targets))


def bag_of_tokens(tokens: torch.Tensor, vocabulary: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Token ids [..., L] -> counts [..., K] of each id of ``vocabulary`` [K]; other ids are not counted."""
    k = vocabulary.numel()
    idx = token_index(tokens, vocabulary)
    # ids outside the vocabulary land in an extra bin that is then dropped
    counts = torch.zeros(*tokens.shape[:-1], k + 1, dtype=dtype, device=tokens.device)
    counts.scatter_add_(-1, idx.where(idx >= 0, k), torch.ones_like(idx, dtype=dtype))
    return counts[..., :k]


@dataclass(frozen=True)
class ReconClassifier:
    """A fixed linear classifier on the target representation: which class does a reconstruction show?

    Fields: the flattened target (image, log-mel, ...); captions: the bag of tokens (count of each id
    of ``vocabulary`` in the caption), which ignores where the class word stands in its template.
    """

    head: LinearHead
    target_dims: int
    vocabulary: torch.Tensor | None  # captions only: sorted token ids [K] that are counted

    def features(self, recon: torch.Tensor) -> torch.Tensor:
        """[..., N, *target_shape] -> [..., N, F]"""
        if self.vocabulary is None:
            return recon.flatten(-self.target_dims)
        return bag_of_tokens(recon, self.vocabulary, self.head.weight.dtype)

    def logits(self, recon: torch.Tensor) -> torch.Tensor:
        """[..., N, *target_shape] -> class logits [..., N, C]"""
        return self.head.logits(self.features(recon))


# The reconstruction classifier is a probe of whether the class survives, fitted on thousands of raw
# features (a log-mel: 2,016): at the heads' tolerance of 1e-6 it took 365 iterations (4.6 s) on the
# digits' log-mels and 146 (45 s) on numbers'; at 1e-4, 51 and 39 iterations for the same test
# accuracy within 0.5 points (0.9889 vs 0.9917, 0.676 vs 0.678; scikit-learn 1.x, lbfgs).
PROBE_TOL = 1e-4


def fit_field_classifier(targets_train: torch.Tensor, labels_train: torch.Tensor, *,
                         l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> ReconClassifier:
    """Multinomial logistic regression (``fit_linear_head``, or ``fit_head`` with its
    arguments: the receiver's cached form) on the flattened training targets [N, *target_shape],
    labels_train int64 [N]; the weights come back as torch tensors on the targets' device and in
    their dtype, so the classifier runs on batches of reconstructions."""
    return ReconClassifier(fit_head(targets_train.flatten(1), labels_train, l2, PROBE_TOL),
                           targets_train.dim() - 1, None)


def fit_token_classifier(tokens_train: torch.Tensor, labels_train: torch.Tensor, *,
                         l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> ReconClassifier:
    """``fit_field_classifier`` on the bag of tokens of training captions [N, L] (in torch's
    default dtype); padding is not counted, as it only measures the caption's length."""
    vocabulary = caption_vocabulary(tokens_train)
    vocabulary = vocabulary[vocabulary != 0]
    bag = bag_of_tokens(tokens_train, vocabulary, torch.get_default_dtype())
    return ReconClassifier(fit_head(bag, labels_train, l2, PROBE_TOL), 1, vocabulary)


# --------------------------------------------------------------------------- kinds: what a decoder names

class MetricsKind:
    """How a decoder's reconstructions are scored; a decoder class names one as its ``metrics``."""

    def fit(self, modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
            l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> "ReconstructionMetrics":
        """The metrics of ``modality`` fixed on training targets [N, *target_shape] (as the decoder's
        ``target_for`` makes them) and labels int64 [N]; ``fit_head`` fits the classifier."""
        raise NotImplementedError


@dataclass(frozen=True)
class FixedRange(MetricsKind):
    """A real field whose values lie in [low, high] by construction; ``psnr``: also ``psnr_<modality>``."""

    low: float = 0.0
    high: float = 1.0
    psnr: bool = False

    def fit(self, modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
            l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> "FieldMetrics":
        return FieldMetrics(modality, fit_field_classifier(targets_train, labels_train, l2=l2, fit_head=fit_head),
                            self.low, self.high, self.psnr)


@dataclass(frozen=True)
class TrainingRange(MetricsKind):
    """A real field without bounds, scaled with the training targets' minimum and maximum."""

    def fit(self, modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
            l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> "FieldMetrics":
        return FieldMetrics(modality, fit_field_classifier(targets_train, labels_train, l2=l2, fit_head=fit_head),
                            float(targets_train.min()), float(targets_train.max()), False)


@dataclass(frozen=True)
class Tokens(MetricsKind):
    """Captions [L] of token ids, the decoder's outputs being logits over the training vocabulary."""

    def fit(self, modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
            l2: float = 1.0, fit_head: FitHead = fit_linear_head) -> "TokenMetrics":
        return TokenMetrics(modality, fit_token_classifier(targets_train, labels_train, l2=l2, fit_head=fit_head),
                            caption_vocabulary(targets_train))


# --------------------------------------------------------------------------- fitted metrics

class ReconstructionMetrics:
    """All reconstruction metrics of one modality, fixed on its training targets (``MetricsKind.fit``).

    ``__call__`` takes the decoder's forward outputs: a field [..., N, *target_shape], or caption
    logits [..., N, L, K]. ``bind`` fixes the test targets and labels once for many calls (what the
    receiver does).
    """

    modality: str
    classifier: ReconClassifier

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """outputs [..., N, ...], targets [N, *target_shape], labels int64 [N] -> {column: tensor [...]}
        (the columns of the module doc)."""
        return self.bind(targets, labels)(outputs)

    def bind(self, targets: torch.Tensor, labels: torch.Tensor) -> "BoundMetrics":
        """These metrics against fixed targets [N, *target_shape] and labels [N]."""
        raise NotImplementedError


@dataclass(frozen=True)
class FieldMetrics(ReconstructionMetrics):
    """A real field's metrics: errors on the [low, high] -> [0, 1] scale, optionally PSNR."""

    modality: str
    classifier: ReconClassifier
    low: float  # the value scaled to 0
    high: float  # the value scaled to 1
    psnr: bool

    def bind(self, targets: torch.Tensor, labels: torch.Tensor) -> "BoundFieldMetrics":
        return BoundFieldMetrics(self, targets, labels)


@dataclass(frozen=True)
class TokenMetrics(ReconstructionMetrics):
    """A caption's metrics; ``vocabulary`` [K]: the sorted token ids of the decoder's logits (the
    compact vocabulary of a ``caption_tokens`` decoder fitted on the same training targets)."""

    modality: str
    classifier: ReconClassifier
    vocabulary: torch.Tensor

    def bind(self, targets: torch.Tensor, labels: torch.Tensor) -> "BoundTokenMetrics":
        return BoundTokenMetrics(self, targets, labels)


def _per_instance(x: torch.Tensor, dims: int, ord: float) -> torch.Tensor:
    """Sum of |x| (ord 1) or of x^2 (ord 2) over the last ``dims`` dimensions, in one read of x."""
    norm = torch.linalg.vector_norm(x, ord, dim=tuple(range(-dims, 0)))
    return norm if ord == 1 else norm.square()


class BoundMetrics:
    """``ReconstructionMetrics`` against fixed test targets and labels.

    What depends only on the targets is computed once on binding, so the receiver can score every SNR point
    chunk by chunk at the cost of the outputs alone. Results equal the definitions in the module doc
    up to float rounding.
    """

    def __call__(self, outputs: torch.Tensor, *, overwrite: bool = False) -> dict[str, torch.Tensor]:
        """outputs [..., N, ...] -> {column: tensor [...]}; ``overwrite``: outputs may be used as scratch."""
        raise NotImplementedError


class BoundFieldMetrics(BoundMetrics):
    """The targets' clipped values are kept; errors are summed per instance first, then averaged
    over the instances (also the more accurate order), and the [0, 1] scaling is applied to those
    sums rather than to every value."""

    def __init__(self, metrics: FieldMetrics, targets: torch.Tensor, labels: torch.Tensor):
        self.metrics, self.labels = metrics, labels
        self.dims = targets.dim() - 1
        # unit_scale(x) - unit_scale(t) = (clip(x) - clip(t)) / (high - low), clip to [low, high]:
        # the error is taken in the data's units and scaled once per instance
        self.clipped = targets.clamp(metrics.low, metrics.high)

    def __call__(self, outputs: torch.Tensor, *, overwrite: bool = False) -> dict[str, torch.Tensor]:
        m, dims, low, high = self.metrics.modality, self.dims, self.metrics.low, self.metrics.high
        acc = topk_accuracy(self.metrics.classifier.logits(outputs), self.labels, 1)  # before any overwrite
        diff = (outputs.clamp_(low, high) if overwrite else outputs.clamp(low, high)).sub_(self.clipped)
        size = self.clipped[0].numel()
        abs_err = _per_instance(diff, dims, 1) / (size * (high - low))  # [..., N], on the [0, 1] scale
        sq_err = _per_instance(diff, dims, 2) / (size * (high - low) ** 2)
        out = {f"mae_{m}": abs_err.mean(-1), f"mse_{m}": sq_err.mean(-1), f"acc_recon_{m}": acc}
        if self.metrics.psnr:  # psnr(): per instance, MSE floored, then the mean over the instances
            out[f"psnr_{m}"] = (10.0 * torch.log10(1.0 / sq_err.clamp_min(_MSE_FLOOR))).mean(-1)
        return out


class BoundTokenMetrics(BoundMetrics):
    """The target positions in the vocabulary, the counted positions and the classifier's columns
    are kept; ``overwrite`` is moot, as the logits are only read."""

    def __init__(self, metrics: TokenMetrics, targets: torch.Tensor, labels: torch.Tensor):
        self.metrics, self.labels = metrics, labels
        vocabulary = metrics.vocabulary.to(targets.device)
        self.vocabulary = vocabulary
        self.index = token_index(targets, vocabulary)  # [N, L], -1 outside the vocabulary
        self.known = self.index >= 0  # a target outside the vocabulary has probability 0
        self.gather_index = self.index.clamp_min(0).unsqueeze(-1)
        self.mask = caption_mask(targets).to(torch.get_default_dtype())
        self.count = self.mask.sum()
        # the classifier's bag of tokens from the decoder's argmax positions: column j counts
        # vocabulary position bag_columns[j]; an id missing from the vocabulary reads the extra,
        # always empty, position K
        cols = token_index(metrics.classifier.vocabulary.to(targets.device), vocabulary)
        self.bag_columns = cols.where(cols >= 0, vocabulary.numel())

    def __call__(self, logits: torch.Tensor, *, overwrite: bool = False) -> dict[str, torch.Tensor]:
        m, k = self.metrics.modality, self.vocabulary.numel()
        if logits.shape[-1] != k:
            raise ValueError(f"caption logits have {logits.shape[-1]} classes, the training vocabulary "
                             f"{k}: fit the decoder on the same training targets")
        p = logits.softmax(-1)
        pos = logits.max(-1).indices  # [..., N, L] decoded positions (argmax; max is faster on CPU)
        p_target = p.gather(-1, self.gather_index.expand(*p.shape[:-1], 1)).squeeze(-1) * self.known
        # MAE = 1 - p(target), MSE = (sum p^2 - 2 p(target) + 1) / 2 per counted position
        mae_ = ((1.0 - p_target) * self.mask).sum((-2, -1)) / self.count
        sq = torch.linalg.vector_norm(p, 2, dim=-1).square_()
        mse_ = (0.5 * (sq - 2.0 * p_target + 1.0) * self.mask).sum((-2, -1)) / self.count
        token_acc = ((pos == self.index) * self.mask).sum((-2, -1)) / self.count
        head = self.metrics.classifier.head
        counts = torch.zeros(*pos.shape[:-1], k + 1, dtype=head.weight.dtype, device=pos.device)
        counts.scatter_add_(-1, pos, torch.ones((), dtype=counts.dtype, device=pos.device).expand(pos.shape))
        acc = topk_accuracy(head.logits(counts[..., self.bag_columns]), self.labels, 1)
        return {f"mae_{m}": mae_, f"mse_{m}": mse_, f"acc_recon_{m}": acc, f"token_acc_{m}": token_acc}
