"""The ``training`` section of a scenario: the contrastive stage and its gap-closing loss, the
compression warm-up, the through-channel fine-tuning."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .fields import DecoderSpec, Frozen, SnrSpec, check_snr_spec


class WeightSchedule(Frozen):
    """A loss weight over training, in fractions of the training epochs (so it scales with
    ``training.epochs``; epoch e of E is at fraction e / E, e from 0): ``constant`` holds ``weight``;
    ``linear`` holds ``weight`` until fraction ``start``, moves linearly to ``end_weight`` at fraction
    ``end`` and holds ``end_weight`` after it."""

    schedule: Literal["constant", "linear"] = Field("constant", description="the schedule's form")
    weight: float = Field(1.0, ge=0.0, description="the weight (linear: until fraction start)")
    end_weight: float | None = Field(None, ge=0.0, description="linear only: the weight from fraction end on")
    start: float | None = Field(None, ge=0.0, le=1.0, description=(
        "linear only: fraction of training where the weight starts to move"))
    end: float | None = Field(None, ge=0.0, le=1.0, description=(
        "linear only: fraction of training where the weight reaches end_weight"))

    @model_validator(mode="after")
    def _fields_of_the_schedule(self) -> "WeightSchedule":
        linear = ("end_weight", "start", "end")
        if self.schedule == "constant":
            given = [k for k in linear if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given[0]} applies to a linear schedule only (schedule: linear)")
            return self
        missing = [k for k in linear if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a linear schedule needs {', '.join(missing)} (e.g. {{schedule: linear, weight: 1.0, "
                             f"end_weight: 2.0, start: 0.5, end: 1.0}})")
        if self.start >= self.end:
            raise ValueError(f"start {self.start:g} must be below end {self.end:g} (fractions of training)")
        return self

    def at(self, fraction: float) -> float:
        """The weight at ``fraction`` of training (0: first epoch, 1: end)."""
        if self.schedule == "constant" or fraction <= self.start:
            return self.weight
        if fraction >= self.end:
            return self.end_weight
        return self.weight + (self.end_weight - self.weight) * (fraction - self.start) / (self.end - self.start)


# The schedules of the papers' authors' public code (ispamm/ModGap, 100 epochs: alignment weight 1
# until epoch 50, rising linearly to 2 at epoch 100; centroid-uniformity weight 1 until epoch 20,
# falling linearly to 0 at epoch 70), in fractions of training
MODGAP_ALIGNMENT = WeightSchedule(schedule="linear", weight=1.0, end_weight=2.0, start=0.5, end=1.0)
MODGAP_UNIFORMITY = WeightSchedule(schedule="linear", weight=1.0, end_weight=0.0, start=0.2, end=0.7)

_CUSTOM_ONLY = ("alignment_weight", "uniformity_weight")


class GapLossConfig(Frozen):
    """The gap-closing terms beside InfoNCE, alpha(t) L_align + beta(t) L_CU (docs/method.md,
    section 'Closing the gap explicitly').

    ``recipe``: ``paper`` is lambda (L_ATP + L_CU) at a constant lambda = ``weight``; ``modgap`` the
    authors' schedules (MODGAP_ALIGNMENT, MODGAP_UNIFORMITY); ``custom`` the schedules given in
    ``alignment_weight`` and ``uniformity_weight``."""

    enabled: bool = Field(False, description="add the gap-closing terms to InfoNCE")
    recipe: Literal["paper", "modgap", "custom"] = Field("paper", description=(
        "paper: lambda (L_ATP + L_CU), lambda = weight; modgap: the authors' schedules; custom: "
        "alignment_weight and uniformity_weight"))
    weight: float = Field(1.0, ge=0.0, description="lambda of recipe paper")
    anchor: str = Field("image", description="anchor modality of L_ATP (alignment: anchor)")
    alignment: Literal["anchor", "pairwise"] = Field("anchor", description=(
        "anchor: every modality aligned to the anchor (L_ATP, the paper); pairwise: every pair aligned "
        "(mean over the M (M - 1) / 2 pairs); the same for M = 2"))
    alignment_weight: WeightSchedule | None = Field(None, validate_default=True, description=(
        "recipe custom only: alpha(t), the schedule of the alignment term"))
    uniformity_weight: WeightSchedule | None = Field(None, validate_default=True, description=(
        "recipe custom only: beta(t), the schedule of the centroid-uniformity term"))

    @field_validator("weight")
    @classmethod
    def _weight_is_paper_only(cls, v: float, info: ValidationInfo) -> float:
        recipe = info.data.get("recipe")
        if recipe not in (None, "paper") and v != 1.0:
            raise ValueError(f"weight (lambda) belongs to recipe paper; recipe {recipe} sets its own weights "
                             f"(recipe custom takes alignment_weight and uniformity_weight)")
        return v

    @field_validator(*_CUSTOM_ONLY)
    @classmethod
    def _schedules_are_custom_only(cls, v: WeightSchedule | None, info: ValidationInfo):
        recipe = info.data.get("recipe")
        if recipe == "custom" and v is None:
            raise ValueError(f"recipe custom needs {info.field_name} (e.g. {{schedule: constant, weight: 1.0}})")
        if recipe in ("paper", "modgap") and v is not None:
            raise ValueError(f"{info.field_name} belongs to recipe custom; recipe {recipe} sets its own weights")
        return v

    def weights(self, fraction: float) -> tuple[float, float]:
        """(alignment weight, uniformity weight) at ``fraction`` of training; (0, 0) when disabled."""
        if not self.enabled:
            return 0.0, 0.0
        if self.recipe == "paper":
            return self.weight, self.weight
        if self.recipe == "modgap":
            return MODGAP_ALIGNMENT.at(fraction), MODGAP_UNIFORMITY.at(fraction)
        return self.alignment_weight.at(fraction), self.uniformity_weight.at(fraction)


class ThroughChannelConfig(Frozen):
    """End-to-end fine-tuning of the trained encoders through a differentiable channel (the JSCC
    step): the encoders and a linear head on the received payload of ``scheme`` (all D dimensions,
    analog link) learn together on the classification loss (times ``weight``) plus the contrastive
    loss at the scenario's tau (and its gap loss, if enabled)."""

    preset: str = Field("awgn", description="the channel the payloads cross (a preset name or file)")
    snr_db: SnrSpec = Field(0.0, description=(
        "SNR per channel use, dB: a number, a list, or {start, stop} drawn per example"))
    epochs: int = Field(5, ge=1, le=10**6, description="fine-tuning epochs")
    lr: float = Field(1e-4, gt=0.0, description="learning rate of the fine-tuning (Adam)")
    scheme: str = Field("centroid", description="a registered scheme: whose payload crosses the channel")
    weight: float = Field(1.0, ge=0.0, description="of the classification loss, beside the contrastive loss")

    _snr = field_validator("snr_db", mode="before")(classmethod(lambda cls, v: check_snr_spec(v)))


class WarmupConfig(Frozen):
    """A compression stage before the contrastive one (CoMa, "Compression then Matching", 2025): each
    encoder learns, with a light decoder of the receiver's registry, to rebuild its own modality's
    input from its D-dim unit-norm embedding; the contrastive stage then starts from those weights.

    The stage's loss is ``weight * L_rec + (1 - weight) * L_InfoNCE(tau)``, L_rec the mean over the
    warmed-up modalities of each decoder's own ``loss`` on its ``target_for`` targets, tau the
    scenario's ``training.temperature`` (no gap terms). ``weight`` 1 is pure compression, as in CoMa;
    a lower weight blends matching in. It is a blend rather than a factor on L_rec alone because Adam
    normalises each parameter's step by its gradient's running scale: a bare multiplier on the only
    loss of a stage would change nothing.

    ``decoders``: modality -> the decoder that rebuilds it; a modality left out gets the decoder
    ``receiver.reconstruction.decoders`` names for it, else the default for what its encoder reads
    (``training.stages.compression.DEFAULT_DECODERS``: image_mlp for images, logmel_mlp for audio, caption_tokens
    for captions, field_mlp otherwise). The decoders are thrown away after the stage. An encoder
    without trainable parameters (``identity``) is not warmed up."""

    epochs: int = Field(ge=1, le=10**9, description=(
        "epochs of the warm-up (limits.training_samples bounds it further, with training.epochs)"))
    objective: Literal["reconstruction"] = Field("reconstruction", description="what the warm-up learns")
    weight: float = Field(1.0, ge=0.0, le=1.0, description="of L_rec; 1 - weight goes to InfoNCE")
    decoders: dict[str, DecoderSpec] | None = Field(None, description=(
        "modality -> the decoder that rebuilds it during the warm-up; None or a modality left out: the default"))
    lr: float | None = Field(None, gt=0.0, description="learning rate of the warm-up; None: training.lr")


class TrainingConfig(Frozen):
    temperature: float = Field(gt=0.0, description="fixed InfoNCE temperature tau (never learned)")
    epochs: int = Field(30, ge=1, le=10**9, description=(
        "epochs of the contrastive stage (limits.training_samples bounds it further)"))
    batch_size: int = Field(128, ge=2, le=1 << 20, description="mini-batch size of the contrastive stage")
    lr: float = Field(1e-3, gt=0.0, description="learning rate (Adam)")
    weight_decay: float = Field(0.0, ge=0.0, description="weight decay of the optimiser")
    gap_loss: GapLossConfig = Field(default_factory=GapLossConfig, description=(
        "the gap-closing terms beside InfoNCE"))
    lr_schedule: Literal["constant", "cosine"] = Field("constant", description=(
        "learning rate per optimiser step after the warm-up of warmup_fraction: constant, or a cosine "
        "decay to 0 at the last step"))
    warmup_fraction: float = Field(0.0, ge=0.0, lt=1.0, description=(
        "fraction of the optimiser steps over which the learning rate rises linearly from 0"))
    through_channel: ThroughChannelConfig | None = Field(None, description=(
        "end-to-end fine-tuning through a channel after the contrastive stage; None: the contrastive stage only"))
    warmup: WarmupConfig | None = Field(None, description=(
        "a compression stage before the contrastive one; None: it starts from the initial weights "
        "(not the learning-rate warm-up of warmup_fraction)"))
