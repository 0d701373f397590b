"""End-to-end fine-tuning of trained encoders through the channel (the JSCC step).

Sionna 2.x is PyTorch: its channel blocks are differentiable in the symbols, so the classification
loss of a linear head on the *received* payload reaches the encoders. Per batch: embeddings ->
payload of ``scheme`` (all D dimensions) -> analog symbols at unit energy per channel use -> the
preset's channel at the training SNR (drawn per example) -> its linear MMSE estimate -> head ->
cross-entropy (one-vs-rest for multi-hot labels), plus the contrastive loss at the scenario's tau
so that the modalities stay aligned. The head is a training aid only: the receiver fits its own
heads afterwards, on the fine-tuned embeddings, as for any encoders.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ...channel import SnrPoints, build_channel
from ...scenario import ChannelPreset, Scenario
from ...data import MultimodalData
from ...receiver.noise_aware import draw_snr_db
from ...runtime import Runtime, stream_seed
from ...links.analog import Analog
from ...transmitter.schemes import get_scheme
from ..losses import total_loss
from ..loop import ProgressFn, run_epochs
from ..preparation import prepare


def received_logits(encoders: nn.ModuleDict, head: nn.Linear, inputs: dict[str, torch.Tensor], scheme: str,
                    channel, no: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(head logits [B, C] of the payload received through ``channel`` at noise variances ``no``
    [B], one per example, the embeddings {m: [B, D]}); differentiable in the encoders."""
    z = {m: enc.embed_prepared(inputs[m]) for m, enc in encoders.items()}
    dims = torch.arange(next(iter(z.values())).shape[-1], device=no.device)
    payload = get_scheme(scheme).payload(z, dims)  # [B, V, D]
    link = Analog.fit(payload.detach())  # unit energy per channel use on this batch
    y, w = channel.mmse(link.modulate(payload)[:, None, None], no)  # each example its own SNR point
    return head(link.demodulate(y, w)[:, 0, 0].flatten(1)), z


@torch.no_grad()
def _probe_head(encoders: nn.ModuleDict, inputs: dict[str, torch.Tensor], labels: torch.Tensor, scheme: str,
                l2: float, n_classes: int) -> nn.Linear:
    """The head starts as the receiver's own logistic head fitted on the clean payloads (linear
    probing, then fine-tuning: a fresh head's random gradients would first pull the pre-trained
    encoders towards whatever it happens to separate)."""
    from ...receiver.heads import fit_linear_head

    encoders.eval()
    z = {m: enc.embed_prepared(inputs[m]) for m, enc in encoders.items()}
    dims = torch.arange(next(iter(z.values())).shape[-1], device=labels.device)
    payload = get_scheme(scheme).payload(z, dims).flatten(1)
    fitted = fit_linear_head(payload, labels, l2)
    head = nn.Linear(payload.shape[1], n_classes).to(payload.device, payload.dtype)
    head.weight.copy_(fitted.weight)
    head.bias.copy_(fitted.bias)
    return head


def _classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if labels.dim() == 2:  # multi-hot: one binary decision per class
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.cross_entropy(logits, labels)


def fine_tune(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario, preset: ChannelPreset,
              runtime: Runtime, progress: ProgressFn | None = None) -> list[dict[str, float]]:
    """Fine-tune ``encoders`` in place; mean loss parts per epoch (``cls`` the head's loss)."""
    cfg, ft = scenario.training, scenario.training.through_channel
    inputs = prepare(encoders, data)
    labels = data.labels
    n_classes = labels.shape[1] if labels.dim() == 2 else len(data.class_names)
    head = _probe_head(encoders, inputs, labels, ft.scheme, scenario.receiver.l2, n_classes)
    params = list(encoders.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=ft.lr)
    snr_rng = runtime.np_rng("through_channel_snr")
    runtime.seed_sionna("through_channel", preset.name)
    channel = build_channel(preset, runtime.device, runtime.sionna_precision)
    # the gap terms at the weights the contrastive stage's schedules end with (the paper recipe: lambda)
    align_w, unif_w = cfg.gap_loss.weights(1.0)

    def step(idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        no = SnrPoints.of(draw_snr_db(ft.snr_db, len(idx), snr_rng).tolist(), runtime.dtype, runtime.device).no
        logits, z = received_logits(encoders, head, {m: x[idx] for m, x in inputs.items()}, ft.scheme, channel, no)
        cls = _classification_loss(logits, labels[idx])
        contrastive, parts = total_loss(z, cfg.temperature, align_w, cfg.gap_loss.anchor, unif_w,
                                        cfg.gap_loss.alignment)
        loss = ft.weight * cls + contrastive
        return loss, {**parts, "cls": float(cls.detach()), "total": float(loss.detach())}

    encoders.train()
    history = run_epochs(
        step, opt, epochs=ft.epochs, n=len(data), batch_size=cfg.batch_size,
        generator=torch.Generator().manual_seed(stream_seed(runtime.seed, "through_channel_batches")),
        device=runtime.device, diverged=("fine-tuning through the channel", "try a lower training.through_channel.lr"),
        progress=progress)
    encoders.eval()
    return history
