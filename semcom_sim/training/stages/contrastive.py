"""The contrastive stage: InfoNCE at the fixed temperature, with the optional gap-closing terms
(``training.gap_loss``) and learning-rate schedule (``training.lr_schedule``, ``warmup_fraction``)."""
from __future__ import annotations

import torch
from torch import nn

from ...scenario import Scenario
from ...data import MultimodalData
from ...runtime import Runtime, stream_seed
from ..losses import total_loss
from ..loop import ProgressFn, lr_factor, run_epochs
from ..preparation import has_trainable, prepare


def train(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario, runtime: Runtime,
          progress: ProgressFn | None = None) -> list[dict[str, float]]:
    """Train ``encoders`` in place; mean loss parts per epoch. An empty history, and no step, when
    nothing is trainable."""
    if not has_trainable(encoders):  # Adam refuses an empty parameter list; there is nothing to learn
        encoders.eval()
        return []
    cfg = scenario.training
    inputs = prepare(encoders, data)
    gap = cfg.gap_loss
    opt = torch.optim.Adam(encoders.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduled = cfg.lr_schedule != "constant" or cfg.warmup_fraction > 0.0

    def step(idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        # the gap terms' weights at the fraction of training done (as the authors' code)
        align_w, unif_w = gap.weights(epoch / cfg.epochs)
        z = {m: enc.embed_prepared(inputs[m][idx]) for m, enc in encoders.items()}
        loss, parts = total_loss(z, cfg.temperature, align_w, gap.anchor, unif_w, gap.alignment)
        if gap.enabled and gap.recipe != "paper":
            parts.update(w_align=align_w, w_unif=unif_w)
        return loss, parts

    encoders.train()
    history = run_epochs(
        step, opt, epochs=cfg.epochs, n=len(data), batch_size=cfg.batch_size,
        generator=torch.Generator().manual_seed(stream_seed(runtime.seed, "batches")), device=runtime.device,
        diverged=("training", "try a lower training.lr or a higher training.temperature"),
        lr_at=(lambda s, total: cfg.lr * lr_factor(s, total, cfg.lr_schedule, cfg.warmup_fraction))
        if scheduled else None,
        progress=progress)
    encoders.eval()
    return history
