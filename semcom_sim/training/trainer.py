"""The training stages in order, and the on-disk cache of the encoders they train.

Stages, each marked in the history by its number: 0 the compression stage (``training.warmup``),
1 the contrastive stage, 2 fine-tuning through the channel (``training.through_channel``)."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..cache import InvalidEntry, load_or_build
from ..scenario import Scenario, load_channel_preset
from ..data import MultimodalData
from ..runtime import Runtime
from .loop import ProgressFn
from .preparation import build_encoders, has_trainable
from .stages import compression, contrastive, through_channel

# bump when training code changes in a way that invalidates cached weights
# (2: entries carry a checksum header, see semcom_sim.cache; 3: every history entry carries its stage)
_CACHE_FORMAT = 3

COMPRESSION, CONTRASTIVE, THROUGH_CHANNEL = 0, 1, 2  # the stage marks of the history


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
        "training": _training_key(scenario),
        "torch": torch.__version__.split("+")[0],
    }
    if scenario.training.through_channel is not None:
        upstream["through_channel_preset"] = _through_preset(scenario, scenario_path).model_dump(mode="json")
    return hashlib.sha256(json.dumps(upstream, sort_keys=True).encode()).hexdigest()[:20]


def _training_key(scenario: Scenario) -> dict:
    """The training options of the cache key, those left at None (off) left out. A disabled gap loss
    as ``{"enabled": false}`` alone: its other options change nothing. With the compression stage,
    its decoders as resolved (``compression_decoders``): a default one follows the receiver's
    decoders, which are otherwise downstream of the encoders."""
    key = scenario.training.model_dump(mode="json", exclude_none=True)
    if not scenario.training.gap_loss.enabled:
        key["gap_loss"] = {"enabled": False}
    if scenario.training.warmup is not None:
        key["warmup"]["decoders"] = {m: spec.model_dump(mode="json")
                                     for m, spec in compression.compression_decoders(scenario).items()}
    return key


def _through_preset(scenario: Scenario, scenario_path: Path | None):
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

    Every history entry carries its ``"stage"`` (see the module doc). With ``training.warmup``, the
    compression stage trains the encoders first, then the contrastive stage from those weights.
    With ``training.through_channel``, the contrastive stage's encoders come from their own cache
    entry (trained first if missing) and are fine-tuned through the channel into this one; the
    history holds the earlier stages' epochs, then the fine-tuning ones."""
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
            history = []
            if scenario.training.warmup is not None:
                history = _marked(compression.train(encs, train_data, scenario, runtime, progress), COMPRESSION)
            return encs, history + _marked(contrastive.train(encs, train_data, scenario, runtime, progress),
                                           CONTRASTIVE)
        first = scenario.model_copy(update={"training": scenario.training.model_copy(update={"through_channel": None})})
        base = train_or_load(first, train_data, runtime, cache_dir, progress, scenario_path)
        encs.load_state_dict(base.encoders.state_dict())
        tuned = through_channel.fine_tune(encs, train_data, scenario, _through_preset(scenario, scenario_path),
                                          runtime, progress)
        return encs, base.history + _marked(tuned, THROUGH_CHANNEL)

    def save(value: tuple[nn.ModuleDict, list[dict[str, float]]], f) -> None:
        encs, history = value
        torch.save({"state": encs.state_dict(), "history": history}, f)

    (encoders, history), cached = load_or_build(path, build, save, load)
    return TrainedEncoders(encoders, history, cached, path)


def _marked(history: list[dict[str, float]], stage: int) -> list[dict[str, float]]:
    return [{**h, "stage": stage} for h in history]
