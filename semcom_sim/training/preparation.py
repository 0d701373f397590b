"""What every training stage starts from: the encoders at their initial weights, their inputs
through the fixed front ends, and the embeddings of trained encoders."""
from __future__ import annotations

import torch
from torch import nn

from ..scenario import Scenario
from ..data import MultimodalData
from ..encoders import build_encoder
from ..runtime import Runtime, stream_seed


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


def trainable_modalities(encoders: nn.ModuleDict) -> list[str]:
    """Modalities whose encoder has a parameter to train (the ``identity`` encoder has none)."""
    return [m for m, enc in encoders.items() if any(p.requires_grad for p in enc.parameters())]


def has_trainable(encoders: nn.ModuleDict) -> bool:
    """Whether any encoder has a parameter to train."""
    return bool(trainable_modalities(encoders))


@torch.no_grad()
def embed(encoders: nn.ModuleDict, data: MultimodalData, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Unit-norm embeddings {modality: [N, D]} in evaluation mode."""
    encoders.eval()
    inputs = prepare(encoders, data, batch_size)
    n = len(data)
    return {m: torch.cat([enc.embed_prepared(inputs[m][i:i + batch_size]) for i in range(0, n, batch_size)])
            for m, enc in encoders.items()}
