"""Modality decoders: received features -> a reconstruction of one modality (docs/method.md,
section 'Semantic communication').

At the receiver the same received centroid feeds every modality's decoder. The encoders are
frozen, so a decoder is fitted once on clean training payloads and then applied to every channel
output of the channel stage at once ([..., N, F] with leading SNR and Monte-Carlo dimensions).

Each decoder class owns what it rebuilds and how that is scored, so a modality needs no code here
unless it needs a decoder of its own: ``target_for`` makes its *target representation* from the raw
inputs (by default the raw inputs themselves; the audio's log-mel spectrogram for ``logmel_mlp``),
``target_shape_for`` says its shape without data (validation, budgets), and ``metrics`` names the
reconstruction metrics (``reconstruction.FixedRange``, ``TrainingRange`` or ``Tokens``). The
generic ``field_mlp`` rebuilds the raw inputs of any real-valued modality, so a new modality needs
only its source and its encoder: ``receiver.reconstruction.decoders: {video: {name: field_mlp}}``.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.audio import LOGMEL_DEFAULTS, LogMel
from ..registry import Registry
from .reconstruction import FixedRange, MetricsKind, Tokens, TrainingRange, caption_vocabulary, token_index

DECODERS: Registry = Registry("decoder")

# open_clip.tokenize's BPE vocabulary: no caption data set has more distinct token ids
CLIP_VOCAB_SIZE = 49408


def audio_frontend(encoder: nn.Module | None = None) -> LogMel:
    """The log-mel front end the audio decoders rebuild: ``encoder.frontend`` where the audio
    encoder has a ``LogMel`` front end (``logmel_cnn``), so the decoder rebuilds exactly what the
    encoder saw, with its options; else (no encoder, or one without a log-mel front end, e.g.
    ``identity``) a ``LogMel`` with the defaults it shares with ``logmel_cnn``."""
    frontend = getattr(encoder, "frontend", None)
    return frontend if isinstance(frontend, LogMel) else LogMel()


def _mlp(in_features: int, out_features: int, hidden: int, layers: int) -> nn.Sequential:
    dims = [in_features] + [hidden] * layers
    blocks: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        blocks += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*blocks, nn.Linear(dims[-1], out_features))


class Decoder(nn.Module):
    """Subclasses implement ``forward`` and ``loss``, and say what they rebuild:

    - ``modality``: the one modality the decoder can rebuild (validation refuses it for another),
      or "" for any modality whose inputs fit;
    - ``target_for`` / ``target_shape_for``: the target made from the raw inputs, with and
      without data (by default the raw inputs themselves);
    - ``target_from_encoder``: True where the target is made by the modality's encoder (its front
      end), so that validation blames bad front-end options on the encoder, not on the decoder;
    - ``metrics``: how its reconstructions are scored (by default as an unbounded field on the
      training range).

    ``shift`` [F] and ``scale`` [] standardise the input: the payload's scale depends on the
    embedding dimension, the RFS size and the scheme, and one learning rate should suit them all.
    ``fit_decoder`` sets them from the training features.
    """

    modality: str = ""
    target_from_encoder: bool = False
    metrics: MetricsKind = TrainingRange()

    def __init__(self, in_features: int):
        super().__init__()
        self.register_buffer("shift", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(()))

    @classmethod
    def target_for(cls, raw_inputs: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        """Raw inputs [N, ...] of the modality -> the decoder targets [N, *target_shape];
        ``encoder`` is the modality's (trained) encoder. ValueError for inputs it cannot rebuild."""
        return raw_inputs

    @classmethod
    def target_shape_for(cls, input_shape: tuple[int, ...], encoder: str | None = None,
                         encoder_options: Mapping[str, Any] | None = None) -> tuple[int, ...]:
        """``target_for`` without data: the target shape of one instance of shape ``input_shape``
        when the modality's encoder is the registered ``encoder`` built with ``encoder_options``.
        ValueError where the decoder cannot rebuild such inputs."""
        return tuple(input_shape)

    @classmethod
    def from_targets(cls, in_features: int, targets: torch.Tensor, **options) -> "Decoder":
        """A decoder for training targets [N, *target_shape]."""
        return cls(in_features, tuple(targets.shape[1:]), **options)

    @classmethod
    def without_data(cls, in_features: int, target_shape: tuple[int, ...], train_instances: int = 1,
                     tokens: int | None = None, **options) -> "Decoder":
        """The largest decoder that ``train_instances`` training targets of ``target_shape`` can give,
        built without them: what validation builds to check the options and the budget counts.
        ``tokens``: the data source's bound on distinct caption token ids, where it knows one."""
        return cls(in_features, target_shape, **options)

    @property
    def output_values(self) -> int:
        """Values ``forward`` returns per instance (what bounds the receiver's chunks)."""
        raise NotImplementedError

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.shift) / self.scale

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """forward's outputs [B, ...] against targets [B, *target_shape] -> scalar training loss."""
        raise NotImplementedError

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """[..., F] -> reconstruction [..., *target_shape] in the target representation."""
        return self(features)


class _FieldMLP(Decoder):
    """An MLP regressing a fixed-shape real field (image, spectrogram, ...), trained with MSE;
    ``target_dims``: the field's dimensions, None for any."""

    target_dims: int | None = None

    def __init__(self, in_features: int, target_shape: tuple[int, ...], *, hidden: int = 256, layers: int = 2):
        super().__init__(in_features)
        if self.target_dims is not None and len(target_shape) != self.target_dims:
            raise ValueError(f"{type(self).__name__} expects a {self.target_dims}-d target, got shape {target_shape}")
        self.target_shape = tuple(int(s) for s in target_shape)
        self.net = _mlp(in_features, math.prod(self.target_shape), hidden, layers)

    @classmethod
    def target_for(cls, raw_inputs: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        if not raw_inputs.is_floating_point():
            raise ValueError(f"{cls.__name__} regresses real values; these inputs are {raw_inputs.dtype} "
                             f"(token ids need caption_tokens)")
        return raw_inputs

    @property
    def output_values(self) -> int:
        return math.prod(self.target_shape)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs, targets)


@DECODERS.register("image_mlp")
class ImageMLP(_FieldMLP):
    """features [..., F] -> image [..., C, H, W] in [0, 1] (any C, H, W: 8x8 digits, 28x28 MNIST).

    Any modality of [C, H, W] pixels in [0, 1] (the image sources' convention) can use it; its
    columns then carry that modality's name, ``psnr_<modality>`` included.
    """

    target_dims = 3
    metrics = FixedRange(0.0, 1.0, psnr=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # the sigmoid keeps every pixel in the data's [0, 1] range, so no clipping is needed after
        return torch.sigmoid(self.net(self.standardise(features))).unflatten(-1, self.target_shape)


@DECODERS.register("field_mlp")
class FieldMLP(_FieldMLP):
    """features [..., F] -> the raw inputs [..., *shape] of any real-valued modality (a video clip
    [T, C, H, W], a sensor trace [channels, samples], an embedding [D]), unbounded.

    The decoder of a modality without one of its own: nothing is assumed about the values, so they
    are scored on the training set's min-max range (``TrainingRange``).
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardise(features)).unflatten(-1, self.target_shape)


@DECODERS.register("logmel_mlp")
class LogMelMLP(_FieldMLP):
    """features [..., F] -> log-mel spectrogram [..., n_mels, frames] of the audio encoder's front end.

    The waveform is not reconstructed. The encoder's front end keeps only the power spectrum's
    mel bands and normalises each utterance's mean and level away, so the received embedding
    carries no phase and no loudness: a waveform decoder would have to invent both. Inverting the
    reconstructed spectrogram (Griffin-Lim over ``torch.istft``) would give audible speech, but a
    sample-wise error against the original waveform would then mostly measure the invented phase
    and level, not whether the word was recovered. The log-mel is what the encoder consumed, so
    its error measures exactly what the channel and the centroid lost. It is unbounded (normalised
    per utterance), so it is scored on the training range.
    """

    modality = "audio"
    target_dims = 2
    target_from_encoder = True

    @classmethod
    def target_for(cls, raw_inputs: torch.Tensor, encoder: nn.Module | None = None, *,
                   batch_size: int = 512) -> torch.Tensor:
        """Waveforms [N, S] -> the log-mel spectrogram [N, n_mels, frames] of ``audio_frontend(encoder)``,
        so the targets come from the modality's own (trained) encoder's front end."""
        # a copy: moving the encoder's own front end to the inputs' device or dtype would move it in place
        frontend = copy.deepcopy(audio_frontend(encoder)).to(raw_inputs.device, raw_inputs.dtype)
        with torch.no_grad():
            return torch.cat([frontend(raw_inputs[i:i + batch_size])
                              for i in range(0, raw_inputs.shape[0], batch_size)])

    @classmethod
    def target_shape_for(cls, input_shape: tuple[int, ...], encoder: str | None = None,
                         encoder_options: Mapping[str, Any] | None = None) -> tuple[int, ...]:
        """An encoder class with a log-mel front end says its keywords with a ``logmel_options``
        classmethod (as ``logmel_cnn``); any other gets the shared defaults, as ``audio_frontend``.
        ValueError for inputs that are no waveform or front-end sizes that do not fit them."""
        if len(input_shape) != 1:
            raise ValueError(f"logmel_mlp rebuilds the log-mel of [samples] waveforms; "
                             f"these inputs are {tuple(input_shape)}")
        from ..encoders import ENCODERS

        hook = getattr(ENCODERS[encoder], "logmel_options", None) if encoder in ENCODERS else None
        options = hook(**(encoder_options or {})) if hook is not None else LOGMEL_DEFAULTS
        return LogMel.output_shape(int(input_shape[0]), **options)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardise(features)).unflatten(-1, self.target_shape)


@DECODERS.register("caption_tokens")
class CaptionTokens(Decoder):
    """features [..., F] -> logits [..., L, K] per caption position over a compact vocabulary.

    The target is the caption's token ids [L] themselves. ``vocabulary`` [K] lists the token ids
    that occur in the training captions (padding included); the model predicts indices into it
    instead of over open_clip's 49,408 ids, so a caption data set of a few dozen distinct tokens
    needs only a few dozen outputs per position. ``decode`` maps the per-position argmax back to
    token ids [..., L] (greedy decoding).
    """

    modality = "text"
    metrics = Tokens()

    def __init__(self, in_features: int, target_shape: tuple[int, ...], *, hidden: int = 256, layers: int = 2,
                 vocabulary: Sequence[int] | torch.Tensor):
        super().__init__(in_features)
        if len(target_shape) != 1:
            raise ValueError(f"caption_tokens expects [L] token ids, got shape {target_shape}")
        self.length = int(target_shape[0])
        self.register_buffer("vocabulary", torch.unique(torch.as_tensor(vocabulary, dtype=torch.long)))
        self.net = _mlp(in_features, self.length * self.vocabulary.numel(), hidden, layers)

    @classmethod
    def target_for(cls, raw_inputs: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        if raw_inputs.is_floating_point():
            raise ValueError(f"caption_tokens rebuilds token ids; these inputs are {raw_inputs.dtype} "
                             f"(real values need field_mlp)")
        return raw_inputs

    @classmethod
    def from_targets(cls, in_features: int, targets: torch.Tensor, **options) -> "CaptionTokens":
        return cls(in_features, tuple(targets.shape[1:]), vocabulary=caption_vocabulary(targets), **options)

    @classmethod
    def without_data(cls, in_features: int, target_shape: tuple[int, ...], train_instances: int = 1,
                     tokens: int | None = None, **options) -> "CaptionTokens":
        # the vocabulary is what the training captions hold: at most all their positions, distinct,
        # and at most what the source's captions can hold
        vocab = min(CLIP_VOCAB_SIZE, max(1, train_instances * math.prod(target_shape)), tokens or CLIP_VOCAB_SIZE)
        return cls(in_features, target_shape, vocabulary=range(vocab), **options)

    @property
    def output_values(self) -> int:
        return self.length * self.vocabulary.numel()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardise(features)).unflatten(-1, (self.length, self.vocabulary.numel()))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.flatten(0, -2), token_index(targets, self.vocabulary).flatten())

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        return self.vocabulary[self(features).argmax(-1)]


def fit_decoder(name: str, features: torch.Tensor, targets: torch.Tensor, *, options: dict, epochs: int,
                lr: float, batch_size: int, generator: torch.Generator) -> Decoder:
    """Fit decoder ``name`` on clean training features [N, F] and targets [N, *target_shape].

    Adam on the decoder's own loss (MSE for fields, cross-entropy for tokens), in
    shuffled mini-batches. The initial weights and the batch order both come from ``generator``,
    so the fit is deterministic given it. The decoder takes the device and dtype of ``features``
    and is returned in evaluation mode with its parameters frozen.
    """
    device = features.device
    targets = targets.to(device, features.dtype) if targets.is_floating_point() else targets.to(device)
    # initialise on the CPU from a seed drawn from ``generator``: the weights then depend neither on
    # the device nor on whatever consumed the global generator before
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = DECODERS[name].from_targets(features.shape[-1], targets, **options)
    decoder = decoder.to(device, features.dtype)
    decoder.shift.copy_(features.mean(0))
    # one scale for all coordinates keeps their relative sizes and cannot amplify the channel noise
    # of a coordinate that is nearly constant in training
    decoder.scale.copy_((features - decoder.shift).square().mean().sqrt().clamp_min(1e-12))
    # foreach: the same arithmetic as the per-parameter loop (identical weights), in fewer calls
    opt = torch.optim.Adam(decoder.parameters(), lr=lr, foreach=True)
    n, bs = features.shape[0], min(batch_size, features.shape[0])
    decoder.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
        # one gather per epoch; its consecutive slices are exactly the mini-batches perm[start:start + bs]
        x_epoch, y_epoch = features[perm], targets[perm]
        for start in range(0, n, bs):
            loss = decoder.loss(decoder(x_epoch[start:start + bs]), y_epoch[start:start + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return decoder.eval().requires_grad_(False)
