"""The compression stage before matching: a reconstruction warm-up of the encoders (``training.warmup``).

CoMa ("Compression then Matching: An Efficient Pre-training Paradigm for Multimodal Embedding",
2025) trains a short *compression* stage, in which the embedding must keep its input's content,
before the contrastive stage. Here each encoder f^m gets a light decoder g^m of the receiver's
registry, and the pair learns to rebuild the modality's own target (the decoder's ``target_for``:
the image, the audio's log-mel, the caption's tokens) from the unit-norm embedding z^m:

    L_compression = w L_rec + (1 - w) L_InfoNCE(tau),   L_rec = mean over m of loss_{g^m}(g^m(z^m), t^m)

with ``loss`` the decoder's own (MSE for fields, cross-entropy for tokens), w =
``training.warmup.weight`` and tau = ``training.temperature`` (no gap terms: they belong to the
matching stage). The decoders are thrown away afterwards; the contrastive stage (``contrastive.train``)
starts from the warmed-up encoder weights with a fresh optimiser, and the receiver fits its own
decoders later, as without warm-up.

Randomness: the decoders' initial weights and the batch order come from the ``warmup`` streams
only, so a scenario without warm-up draws exactly what it drew before (same weights, bit for bit).
"""
from __future__ import annotations

import torch
from torch import nn

from ...scenario import DecoderSpec, Scenario
from ...data import MultimodalData
from ...errors import UserError
from ...runtime import Runtime, stream_seed
from ..losses import multimodal_info_nce
from ..loop import ProgressFn, run_epochs
from ..preparation import prepare, trainable_modalities

# the decoder of a modality that neither training.warmup.decoders nor the receiver names,
# by what its encoder reads (the encoder class's ``modality``); any other: field_mlp, which rebuilds
# the raw inputs of any real-valued modality
DEFAULT_DECODERS = {"image": "image_mlp", "audio": "logmel_mlp", "text": "caption_tokens"}
FALLBACK_DECODER = "field_mlp"


def compression_decoders(scenario: Scenario) -> dict[str, DecoderSpec]:
    """modality -> the decoder that rebuilds it during the compression stage, for every modality of
    ``data.modalities``: ``training.warmup.decoders`` first, then ``receiver.reconstruction.decoders``,
    then ``DEFAULT_DECODERS`` by what the modality's encoder reads (``field_mlp`` otherwise).
    Resolved from the scenario alone (no data), so that the cache key can hold it. Empty without
    the stage."""
    from ...encoders import ENCODERS

    warm = scenario.training.warmup
    if warm is None:
        return {}
    given, receiver = warm.decoders or {}, scenario.receiver.reconstruction.decoders
    out = {}
    for m in scenario.data.modalities:
        if m in given:
            out[m] = given[m]
        elif m in receiver:
            out[m] = receiver[m]
        else:
            name = scenario.encoders[m].name if m in scenario.encoders else ""
            reads = ENCODERS[name].modality if name in ENCODERS else ""
            out[m] = DecoderSpec(name=DEFAULT_DECODERS.get(reads, FALLBACK_DECODER))
    return out


def compression_field(scenario: Scenario, modality: str) -> str:
    """The scenario field that chose ``modality``'s compression decoder (what an error names)."""
    warm = scenario.training.warmup
    if warm is not None and warm.decoders and modality in warm.decoders:
        return f"training.warmup.decoders.{modality}"
    if modality in scenario.receiver.reconstruction.decoders:
        return f"receiver.reconstruction.decoders.{modality}"
    return f"training.warmup.decoders.{modality}"  # a default: naming one there overrides it


def build_compression_decoders(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario,
                          runtime: Runtime) -> tuple[nn.ModuleDict, dict[str, torch.Tensor]]:
    """(decoders, targets) of the trainable modalities: each decoder of ``compression_decoders`` built for
    its targets [N, *target_shape] (made by its ``target_for`` from the raw inputs and the
    modality's encoder), initialised on the CPU from the ``warmup`` stream, on the run's device and
    dtype. The decoders read unit-norm embeddings, whose coordinates have an RMS of exactly
    D^-1/2: their input scale is fixed to it (no shift), so they see unit-scale inputs whatever D."""
    from ...receiver.decoders import DECODERS

    specs = compression_decoders(scenario)
    dim = scenario.embedding_dim
    decoders, targets = nn.ModuleDict(), {}
    for m in trainable_modalities(encoders):
        spec, cls = specs[m], DECODERS[specs[m].name]
        try:
            t = cls.target_for(data.inputs[m], encoders[m])
        except ValueError as e:  # what validation cannot see without data (token ids or real values)
            raise UserError(f"{spec.name!r}: {e}", source=scenario.name, field=compression_field(scenario, m)) from None
        targets[m] = t.to(runtime.device, runtime.dtype) if t.is_floating_point() else t.to(runtime.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(runtime.seed, "warmup", "init", m))
            decoders[m] = cls.from_targets(dim, targets[m].cpu(), **spec.options)
        decoders[m].scale.fill_(dim ** -0.5)
    return decoders.to(runtime.device, runtime.dtype), targets


def train(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario, runtime: Runtime,
          progress: ProgressFn | None = None) -> list[dict[str, float]]:
    """Train ``encoders`` in place (see the module doc); mean loss parts per epoch: ``rec_<m>`` per
    modality, ``rec`` (L_rec), ``infonce`` (logged at weight 1 too, without gradient) and ``total``.
    An empty history, and no step, when no encoder is trainable (``identity`` has nothing to learn)."""
    cfg, warm = scenario.training, scenario.training.warmup
    if not trainable_modalities(encoders):
        return []
    inputs = prepare(encoders, data)
    decoders, targets = build_compression_decoders(encoders, data, scenario, runtime)
    opt = torch.optim.Adam(list(encoders.parameters()) + list(decoders.parameters()), lr=warm.lr or cfg.lr,
                           weight_decay=cfg.weight_decay)
    w = warm.weight

    def step(idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        z = {m: enc.embed_prepared(inputs[m][idx]) for m, enc in encoders.items()}
        rec = {m: dec.loss(dec(z[m]), targets[m][idx]) for m, dec in decoders.items()}
        l_rec = torch.stack(list(rec.values())).mean()
        if w < 1.0:
            nce = multimodal_info_nce(z, cfg.temperature)
            loss = w * l_rec + (1.0 - w) * nce
        else:  # pure compression: InfoNCE only watched
            with torch.no_grad():
                nce = multimodal_info_nce({m: v.detach() for m, v in z.items()}, cfg.temperature)
            loss = l_rec
        return loss, {**{f"rec_{m}": float(v.detach()) for m, v in rec.items()}, "rec": float(l_rec.detach()),
                      "infonce": float(nce.detach()), "total": float(loss.detach())}

    encoders.train()
    decoders.train()
    history = run_epochs(
        step, opt, epochs=warm.epochs, n=len(data), batch_size=cfg.batch_size,
        generator=torch.Generator().manual_seed(stream_seed(runtime.seed, "warmup", "batches")),
        device=runtime.device, diverged=("the compression stage", "try a lower training.warmup.lr"), progress=progress)
    encoders.eval()
    return history
