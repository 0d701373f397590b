"""Reconstruction quality at the receiver ([MG] Table 1: MAE, MSE, Acc@1 of the reconstruction).

Every metric reduces over the instances and the target's own dimensions and keeps all leading
dimensions, so reconstructions [S, R, N, ...] of a whole SNR sweep are scored in one call.

Scaling to [0, 1], so that MAE and MSE of different modalities are comparable:
- image: pixels are already in [0, 1];
- audio: the log-mel spectrogram (normalised per utterance, so unbounded) is mapped with the
  *training set's* global minimum and maximum, fixed once, and clipped to [0, 1]. One affine map
  for all instances keeps the error proportional to the log-mel error (a per-instance min-max would
  weigh each utterance differently), and fixing it on the training set makes the scale independent
  of what is evaluated. Clipping only touches values beyond the training range;
- text: a caption has no values to scale, so the error is measured between the predicted token
  distribution p (softmax of the decoder's logits) and the one-hot target at each position: MAE is
  the total-variation distance ||p - onehot||_1 / 2 = 1 - p(target) and MSE the halved Brier score
  ||p - onehot||_2^2 / 2. Both lie in [0, 1], do not shrink as the vocabulary grows (a mean over the
  vocabulary would divide them by its size), and equal the token error rate for a hard decision.

Text positions: the start token (position 0, the same in every caption) and padding are left out
of every text metric, since predicting them says nothing about the caption; the end token counts,
as it fixes the caption's length.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .decoders import caption_vocabulary, token_index
from .heads import LinearHead, fit_linear_head, topk_accuracy

_TARGET_DIMS = {"image": 3, "audio": 2, "text": 1}
# per-image MSE floor for PSNR: a perfect reconstruction scores 100 dB, not infinity
_MSE_FLOOR = 1e-10


def _check_modality(modality: str) -> int:
    if modality not in _TARGET_DIMS:
        raise ValueError(f"no reconstruction metrics for modality {modality!r}")
    return _TARGET_DIMS[modality]


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
    """recon [..., N, C, H, W], target [N, C, H, W] -> PSNR in dB [...], averaged over images.

    10 log10(peak^2 / MSE_i) per image i, then the mean over the N images (as image-compression
    papers report it); each image's MSE is floored at 1e-10, so a perfect image scores 100 dB.
    """
    per_image = (recon - target).square().flatten(-3).mean(-1).clamp_min(_MSE_FLOOR)
    return (10.0 * torch.log10(peak**2 / per_image)).mean(-1)


def caption_mask(tokens: torch.Tensor) -> torch.Tensor:
    """Target token ids [N, L] -> bool [N, L]: the positions text metrics count (see module doc)."""
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

    image and audio: the flattened image / log-mel; text: the bag of tokens (count of each id of
    ``vocabulary`` in the caption), which ignores where the class word stands in its template.
    """

    head: LinearHead
    target_dims: int
    vocabulary: torch.Tensor | None  # text only: sorted token ids [K] that are counted

    def features(self, recon: torch.Tensor) -> torch.Tensor:
        """[..., N, *target_shape] -> [..., N, F]"""
        if self.vocabulary is None:
            return recon.flatten(-self.target_dims)
        return bag_of_tokens(recon, self.vocabulary, self.head.weight.dtype)

    def logits(self, recon: torch.Tensor) -> torch.Tensor:
        """[..., N, *target_shape] -> class logits [..., N, C]"""
        return self.head.logits(self.features(recon))


def fit_recon_classifier(modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
                         l2: float = 1.0) -> ReconClassifier:
    """Multinomial logistic regression (sklearn, via ``fit_linear_head``) on raw training targets.

    targets_train [N, *target_shape] (token ids for text), labels_train int64 [N]. The weights
    come back as torch tensors on the targets' device (text: in torch's default dtype), so the
    classifier runs on batches of reconstructions where they are.
    """
    target_dims = _check_modality(modality)
    if modality == "text":
        vocabulary = caption_vocabulary(targets_train)
        vocabulary = vocabulary[vocabulary != 0]  # padding only measures the caption's length
        bag = bag_of_tokens(targets_train, vocabulary, torch.get_default_dtype())
        return ReconClassifier(fit_linear_head(bag, labels_train, l2), target_dims, vocabulary)
    return ReconClassifier(fit_linear_head(targets_train.flatten(1), labels_train, l2), target_dims, None)


@dataclass(frozen=True)
class ReconstructionMetrics:
    """All reconstruction metrics of one modality, fixed on its training targets.

    ``__call__`` takes the decoder's forward outputs for every modality: images [..., N, C, H, W],
    log-mels [..., N, n_mels, frames], or caption logits [..., N, L, K] over ``vocabulary`` (the
    compact vocabulary of a ``caption_tokens`` decoder fitted on the same training targets).
    ``bind`` fixes the test targets and labels once for many calls (what the receiver does).
    """

    modality: str
    classifier: ReconClassifier
    low: float  # image, audio: the value scaled to 0
    high: float  # image, audio: the value scaled to 1
    vocabulary: torch.Tensor | None  # text only: sorted token ids [K] of the decoder's logits

    @classmethod
    def fit(cls, modality: str, targets_train: torch.Tensor, labels_train: torch.Tensor, *,
            l2: float = 1.0) -> "ReconstructionMetrics":
        """targets_train [N, *target_shape] as ``target_for`` makes them, labels_train int64 [N]."""
        classifier = fit_recon_classifier(modality, targets_train, labels_train, l2=l2)
        if modality == "text":
            return cls(modality, classifier, 0.0, 1.0, caption_vocabulary(targets_train))
        if modality == "audio":
            return cls(modality, classifier, float(targets_train.min()), float(targets_train.max()), None)
        return cls(modality, classifier, 0.0, 1.0, None)

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """outputs [..., N, ...], targets [N, *target_shape], labels int64 [N] -> {column: tensor [...]}.

        Columns: ``mae_<modality>``, ``mse_<modality>``, ``acc_recon_<modality>`` (Acc@1 of the fixed
        classifier on the reconstruction), plus ``psnr_image`` or ``token_acc_text``.
        """
        return self.bind(targets, labels)(outputs)

    def bind(self, targets: torch.Tensor, labels: torch.Tensor) -> "BoundMetrics":
        """These metrics against fixed targets [N, *target_shape] and labels [N]."""
        return BoundMetrics(self, targets, labels)


def _per_instance(x: torch.Tensor, dims: int, ord: float) -> torch.Tensor:
    """Sum of |x| (ord 1) or of x^2 (ord 2) over the last ``dims`` dimensions, in one read of x."""
    norm = torch.linalg.vector_norm(x, ord, dim=tuple(range(-dims, 0)))
    return norm if ord == 1 else norm.square()


class BoundMetrics:
    """``ReconstructionMetrics`` against fixed test targets and labels.

    What depends only on the targets (their clipped values; for captions the target positions in
    the vocabulary, the counted positions, the classifier's columns) is computed once here, so the
    receiver can score a sweep chunk by chunk at the cost of the outputs alone. Results equal the
    definitions in the module doc up to float rounding: errors are summed per instance first, then
    averaged over the instances (also the more accurate order), and the [0, 1] scaling is applied
    to those sums rather than to every value.
    """

    def __init__(self, metrics: ReconstructionMetrics, targets: torch.Tensor, labels: torch.Tensor):
        self.metrics, self.labels = metrics, labels
        self.dims = _check_modality(metrics.modality)
        if metrics.modality == "text":
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
        else:
            # unit_scale(x) - unit_scale(t) = (clip(x) - clip(t)) / (high - low), clip to [low, high]:
            # the error is taken in the data's units and scaled once per instance
            self.clipped = targets.clamp(metrics.low, metrics.high)

    def __call__(self, outputs: torch.Tensor, *, overwrite: bool = False) -> dict[str, torch.Tensor]:
        """outputs [..., N, ...] -> {column: tensor [...]}; ``overwrite``: outputs may be used as scratch."""
        if self.metrics.modality == "text":
            return self._text(outputs)
        m, dims, low, high = self.metrics.modality, self.dims, self.metrics.low, self.metrics.high
        acc = topk_accuracy(self.metrics.classifier.logits(outputs), self.labels, 1)  # before any overwrite
        diff = (outputs.clamp_(low, high) if overwrite else outputs.clamp(low, high)).sub_(self.clipped)
        size = self.clipped[0].numel()
        abs_err = _per_instance(diff, dims, 1) / (size * (high - low))  # [..., N], on the [0, 1] scale
        sq_err = _per_instance(diff, dims, 2) / (size * (high - low) ** 2)
        out = {f"mae_{m}": abs_err.mean(-1), f"mse_{m}": sq_err.mean(-1), f"acc_recon_{m}": acc}
        if m == "image":  # psnr(): per image, MSE floored, then the mean over the images
            out["psnr_image"] = (10.0 * torch.log10(1.0 / sq_err.clamp_min(_MSE_FLOOR))).mean(-1)
        return out

    def _text(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        k = self.vocabulary.numel()
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
        return {"mae_text": mae_, "mse_text": mse_, "acc_recon_text": acc, "token_acc_text": token_acc}
