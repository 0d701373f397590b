"""Training loop and the on-disk cache of trained encoders."""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..cache import InvalidEntry, load_or_build
from ..config import Scenario
from ..data import MultimodalData
from ..encoders import build_encoder
from ..errors import TrainingDiverged
from ..runtime import Runtime, stream_seed
from .losses import total_loss

# bump when training code changes in a way that invalidates cached weights
# (2: entries carry a checksum header, see semcom_sim.cache)
_CACHE_FORMAT = 2

ProgressFn = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, mean losses)


@dataclass
class TrainedEncoders:
    encoders: nn.ModuleDict
    history: list[dict[str, float]]  # mean loss parts per epoch
    cached: bool  # True when loaded from the cache instead of trained
    cache_path: Path


def cache_key(scenario: Scenario, scenario_path: Path | None = None) -> str:
    """Everything upstream of the trained weights, and nothing downstream (channels, heads); with
    fine-tuning through a channel, that channel's resolved preset too (a preset file may change
    under the same name)."""
    upstream = {
        "format": _CACHE_FORMAT,
        "seed": scenario.seed,
        "dtype": scenario.dtype,
        "dim": scenario.embedding_dim,
        "data": scenario.data.model_dump(mode="json", exclude={"cache_dir"}),
        "encoders": {m: scenario.encoders[m].model_dump(mode="json") for m in scenario.data.modalities},
        # an option left at None is left out, so adding options keeps existing cache entries valid
        "training": _training_key(scenario),
        "torch": torch.__version__.split("+")[0],
    }
    if scenario.training.through_channel is not None:
        upstream["through_channel_preset"] = _through_preset(scenario, scenario_path).model_dump(mode="json")
    return hashlib.sha256(json.dumps(upstream, sort_keys=True).encode()).hexdigest()[:20]


# training options added after entries were cached, left out of the key at their defaults (what the
# code did before them), so that existing entries stay valid: (path in training, default)
_NEW_AT_DEFAULT = (
    (("gap_loss", "recipe"), "paper"), (("gap_loss", "alignment"), "anchor"),
    (("lr_schedule",), "constant"), (("warmup_fraction",), 0.0),
)


def _training_key(scenario: Scenario) -> dict:
    """The training options of the cache key: None options, and options added later at their
    defaults, left out; with the gap loss disabled, its options added later too (they change nothing).
    With a warm-up, its decoders as resolved (``warmup_decoders``): a default one follows the
    receiver's decoders, which are otherwise downstream of the encoders."""
    key = scenario.training.model_dump(mode="json", exclude_none=True)
    if scenario.training.warmup is not None:
        from .warmup import warmup_decoders

        key["warmup"]["decoders"] = {m: spec.model_dump(mode="json")
                                     for m, spec in warmup_decoders(scenario).items()}
    for path, default in _NEW_AT_DEFAULT:
        *parents, leaf = path
        node = key
        for p in parents:
            node = node[p]
        disabled_gap = parents == ["gap_loss"] and not scenario.training.gap_loss.enabled
        if node.get(leaf) == default or disabled_gap:
            node.pop(leaf, None)
    return key


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


def build_encoders(scenario: Scenario, data: MultimodalData, runtime: Runtime) -> nn.ModuleDict:
    # initialise on the CPU from its own stream so weights do not depend on the device or on
    # whatever consumed the global generator before
    encs = nn.ModuleDict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(runtime.seed, "init"))
        for m in scenario.data.modalities:
            spec = scenario.encoders[m]
            encs[m] = build_encoder(spec.name, scenario.embedding_dim, tuple(data.inputs[m].shape[1:]),
                                    spec.options)
    return encs.to(runtime.device, runtime.dtype)


@torch.no_grad()
def prepare(encoders: nn.ModuleDict, data: MultimodalData, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Each modality through its encoder's fixed front end, once."""
    n = len(data)
    return {m: torch.cat([enc.prepare(data.inputs[m][i:i + batch_size]) for i in range(0, n, batch_size)])
            for m, enc in encoders.items()}


def has_trainable(encoders: nn.ModuleDict) -> bool:
    """Whether any encoder has a parameter to train (the ``identity`` encoder has none)."""
    return any(p.requires_grad for p in encoders.parameters())


def train(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario, runtime: Runtime,
          progress: ProgressFn | None = None) -> list[dict[str, float]]:
    """Mean loss parts per epoch; an empty history, and no step, when nothing is trainable."""
    if not has_trainable(encoders):  # Adam refuses an empty parameter list; there is nothing to learn
        encoders.eval()
        return []
    cfg = scenario.training
    inputs = prepare(encoders, data)
    gap = cfg.gap_loss
    opt = torch.optim.Adam(encoders.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(stream_seed(runtime.seed, "batches"))
    n, bs = len(data), min(cfg.batch_size, len(data))
    steps_per_epoch = (n - bs) // bs + 1
    scheduled_lr = cfg.lr_schedule != "constant" or cfg.warmup_fraction > 0.0
    history = []
    encoders.train()
    for epoch in range(cfg.epochs):
        # the gap terms' weights per epoch, at the fraction of training done (as the authors' code)
        align_w, unif_w = gap.weights(epoch / cfg.epochs)
        perm = torch.randperm(n, generator=gen).to(runtime.device)
        sums: dict[str, float] = {}
        steps = 0
        for start in range(0, n - bs + 1, bs):  # drop the ragged tail: InfoNCE wants full batches
            idx = perm[start:start + bs]
            if scheduled_lr:
                factor = lr_factor(epoch * steps_per_epoch + steps, cfg.epochs * steps_per_epoch,
                                   cfg.lr_schedule, cfg.warmup_fraction)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * factor
            z = {m: enc.embed_prepared(inputs[m][idx]) for m, enc in encoders.items()}
            loss, parts = total_loss(z, cfg.temperature, align_w, gap.anchor, unif_w, gap.alignment)
            if gap.enabled and gap.recipe != "paper":
                parts.update(w_align=align_w, w_unif=unif_w)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"training diverged: loss is {float(loss.detach())} at epoch {epoch + 1}, step {steps + 1} "
                    f"(try a lower training.lr or a higher training.temperature)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
        history.append({k: v / steps for k, v in sums.items()})
        if progress:
            progress(epoch + 1, cfg.epochs, history[-1])
    encoders.eval()
    return history


def _through_preset(scenario: Scenario, scenario_path: Path | None):
    from ..config import load_channel_preset

    return load_channel_preset(scenario.training.through_channel.preset, scenario_path)


def encoder_cache_path(scenario: Scenario, cache_dir: Path, scenario_path: Path | None = None) -> Path:
    """Where the cache keeps the trained encoders of ``scenario`` (``scenario_path``: where its
    channel presets resolve, for fine-tuning through a channel)."""
    return Path(cache_dir) / "encoders" / f"{cache_key(scenario, scenario_path)}.pt"


def _check_history(history: object) -> list[dict[str, float]]:
    if not (isinstance(history, list) and all(
            isinstance(h, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in h.items())
            for h in history)):
        raise InvalidEntry("training history is not a list of loss records")
    return history


def train_or_load(scenario: Scenario, train_data: MultimodalData, runtime: Runtime, cache_dir: Path,
                  progress: ProgressFn | None = None, scenario_path: Path | None = None) -> TrainedEncoders:
    """Trained encoders from the cache, else trained now and cached (see ``semcom_sim.cache``:
    verified reads, one trainer per entry across processes, atomic writes).

    When no encoder has a trainable parameter (e.g. ``identity`` on the ``embeddings`` source),
    training is skipped: the built encoders are returned with an empty history, and the cache is
    neither read nor written (there is nothing to cache).

    With ``training.warmup``, the encoders are first warmed up (``warmup.warm_up``), then trained
    contrastively from those weights; the warm-up epochs lead the history, marked ``"stage": 0``
    (the contrastive epochs carry no mark).

    With ``training.through_channel``, the contrastive stage's encoders come from their own cache
    entry (trained first if missing) and are fine-tuned through the channel into this one; the
    history holds both stages, the fine-tuning epochs marked ``"stage": 2``."""
    path = encoder_cache_path(scenario, cache_dir, scenario_path)
    encoders = build_encoders(scenario, train_data, runtime)
    if not has_trainable(encoders):
        encoders.eval()
        return TrainedEncoders(encoders, [], False, path)
    expected = {k: (tuple(v.shape), v.dtype) for k, v in encoders.state_dict().items()}
    touched = False  # whether a load attempt wrote into ``encoders``

    def load(f) -> tuple[nn.ModuleDict, list[dict[str, float]]]:
        nonlocal touched
        blob = torch.load(io.BytesIO(f.read()), map_location=runtime.device, weights_only=True)
        if not isinstance(blob, dict) or set(blob) != {"state", "history"} or not isinstance(blob["state"], dict):
            raise InvalidEntry("not an encoder checkpoint")
        state = blob["state"]
        if set(state) != set(expected):
            diff = sorted(set(state) ^ set(expected))
            raise InvalidEntry(f"weights do not match the encoders (e.g. {diff[0]})")
        for k, (shape, dtype) in expected.items():
            v = state[k]
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape or v.dtype != dtype:
                raise InvalidEntry(f"weights do not match the encoders ({k})")
        history = _check_history(blob["history"])
        touched = True
        encoders.load_state_dict(state)
        encoders.eval()
        return encoders, history

    def build() -> tuple[nn.ModuleDict, list[dict[str, float]]]:
        # a fresh copy if a failed load wrote into ``encoders``: training starts from the init
        encs = build_encoders(scenario, train_data, runtime) if touched else encoders
        if scenario.training.through_channel is None:
            warm = []
            if scenario.training.warmup is not None:
                from .warmup import warm_up

                # stage numbers: 0 warm-up, (1) contrastive, unmarked as before stages existed, 2 through the channel
                warm = [{**h, "stage": 0} for h in warm_up(encs, train_data, scenario, runtime, progress)]
            return encs, warm + train(encs, train_data, scenario, runtime, progress)
        from .through_channel import fine_tune

        first = scenario.model_copy(update={"training": scenario.training.model_copy(update={"through_channel": None})})
        base = train_or_load(first, train_data, runtime, cache_dir, progress, scenario_path)
        encs.load_state_dict(base.encoders.state_dict())
        tuned = fine_tune(encs, train_data, scenario, _through_preset(scenario, scenario_path), runtime, progress)
        return encs, base.history + [{**h, "stage": 2} for h in tuned]

    def save(value: tuple[nn.ModuleDict, list[dict[str, float]]], f) -> None:
        encs, history = value
        torch.save({"state": encs.state_dict(), "history": history}, f)

    (encoders, history), cached = load_or_build(path, build, save, load)
    return TrainedEncoders(encoders, history, cached, path)


@torch.no_grad()
def embed(encoders: nn.ModuleDict, data: MultimodalData, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Unit-norm embeddings {modality: [N, D]} in evaluation mode."""
    encoders.eval()
    inputs = prepare(encoders, data, batch_size)
    n = len(data)
    return {m: torch.cat([enc.embed_prepared(inputs[m][i:i + batch_size]) for i in range(0, n, batch_size)])
            for m, enc in encoders.items()}
