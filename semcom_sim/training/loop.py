"""The epoch loop every training stage runs, and the learning-rate schedule of the contrastive stage."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import TrainingDiverged

ProgressFn = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, mean losses)
# (batch indices, epoch from 0) -> (loss to minimise, its parts to log)
StepFn = Callable[[torch.Tensor, int], tuple[torch.Tensor, dict[str, float]]]


def lr_factor(step: int, total: int, schedule: str, warmup_fraction: float) -> float:
    """Multiplier of training.lr at optimiser step ``step`` (from 0) of ``total``: a linear warm-up
    over the first ``warmup_fraction`` of the steps (reaching 1 at its last step), then 1
    (``constant``) or a cosine decay from 1 to 0 at the last step (``cosine``)."""
    warm = int(round(warmup_fraction * total))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    rest = total - warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / rest)) if rest > 1 else 1.0


def run_epochs(step: StepFn, opt: torch.optim.Optimizer, *, epochs: int, n: int, batch_size: int,
               generator: torch.Generator, device: torch.device, diverged: tuple[str, str],
               lr_at: Callable[[int, int], float] | None = None,
               progress: ProgressFn | None = None) -> list[dict[str, float]]:
    """Mean loss parts per epoch of ``epochs`` passes over ``n`` instances in the order of
    ``generator``, one optimiser step per full batch of ``min(batch_size, n)`` (the ragged tail is
    dropped: InfoNCE wants full batches). ``lr_at(step, steps)``: the learning rate of each optimiser
    step (None: the optimiser's own). ``diverged``: (what diverged, the hint) of the error raised on
    a loss that is not finite. The caller puts its modules in training mode and back."""
    bs = min(batch_size, n)
    steps_per_epoch = (n - bs) // bs + 1
    history = []
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=generator).to(device)
        sums: dict[str, float] = {}
        steps = 0
        for start in range(0, n - bs + 1, bs):
            if lr_at is not None:
                lr = lr_at(epoch * steps_per_epoch + steps, epochs * steps_per_epoch)
                for group in opt.param_groups:
                    group["lr"] = lr
            loss, parts = step(perm[start:start + bs], epoch)
            if not torch.isfinite(loss):
                what, hint = diverged
                raise TrainingDiverged(f"{what} diverged: loss is {float(loss.detach())} at epoch {epoch + 1}, "
                                       f"step {steps + 1} ({hint})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
        history.append({k: v / steps for k, v in sums.items()})
        if progress:
            progress(epoch + 1, epochs, history[-1])
    return history
