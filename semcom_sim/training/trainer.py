"""Training loop and the on-disk cache of trained encoders."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import Scenario
from ..data import MultimodalData
from ..encoders import build_encoder
from ..errors import TrainingDiverged
from ..runtime import Runtime, stream_seed
from .losses import total_loss

# bump when training code changes in a way that invalidates cached weights
_CACHE_FORMAT = 1

ProgressFn = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, mean losses)


@dataclass
class TrainedEncoders:
    encoders: nn.ModuleDict
    history: list[dict[str, float]]  # mean loss parts per epoch
    cached: bool  # True when loaded from the cache instead of trained
    cache_path: Path


def cache_key(scenario: Scenario) -> str:
    """Everything upstream of the trained weights, and nothing downstream (channels, heads)."""
    upstream = {
        "format": _CACHE_FORMAT,
        "seed": scenario.seed,
        "dtype": scenario.dtype,
        "dim": scenario.embedding_dim,
        "data": scenario.data.model_dump(mode="json", exclude={"cache_dir"}),
        "encoders": {m: scenario.encoders[m].model_dump(mode="json") for m in scenario.data.modalities},
        "training": scenario.training.model_dump(mode="json"),
        "torch": torch.__version__.split("+")[0],
    }
    return hashlib.sha256(json.dumps(upstream, sort_keys=True).encode()).hexdigest()[:20]


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


def train(encoders: nn.ModuleDict, data: MultimodalData, scenario: Scenario, runtime: Runtime,
          progress: ProgressFn | None = None) -> list[dict[str, float]]:
    cfg = scenario.training
    inputs = prepare(encoders, data)
    gap_w = cfg.gap_loss.weight if cfg.gap_loss.enabled else 0.0
    opt = torch.optim.Adam(encoders.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(stream_seed(runtime.seed, "batches"))
    n, bs = len(data), min(cfg.batch_size, len(data))
    history = []
    encoders.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(runtime.device)
        sums: dict[str, float] = {}
        steps = 0
        for start in range(0, n - bs + 1, bs):  # drop the ragged tail: InfoNCE wants full batches
            idx = perm[start:start + bs]
            z = {m: enc.embed_prepared(inputs[m][idx]) for m, enc in encoders.items()}
            loss, parts = total_loss(z, cfg.temperature, gap_w, cfg.gap_loss.anchor)
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


def train_or_load(scenario: Scenario, train_data: MultimodalData, runtime: Runtime, cache_dir: Path,
                  progress: ProgressFn | None = None) -> TrainedEncoders:
    encoders = build_encoders(scenario, train_data, runtime)
    path = Path(cache_dir) / "encoders" / f"{cache_key(scenario)}.pt"
    if path.is_file():
        blob = torch.load(path, map_location=runtime.device, weights_only=True)
        encoders.load_state_dict(blob["state"])
        encoders.eval()
        return TrainedEncoders(encoders, blob["history"], True, path)
    history = train(encoders, train_data, scenario, runtime, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state": encoders.state_dict(), "history": history}, tmp)
    tmp.replace(path)
    return TrainedEncoders(encoders, history, False, path)


@torch.no_grad()
def embed(encoders: nn.ModuleDict, data: MultimodalData, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Unit-norm embeddings {modality: [N, D]} in evaluation mode."""
    encoders.eval()
    inputs = prepare(encoders, data, batch_size)
    n = len(data)
    return {m: torch.cat([enc.embed_prepared(inputs[m][i:i + batch_size]) for i in range(0, n, batch_size)])
            for m, enc in encoders.items()}
