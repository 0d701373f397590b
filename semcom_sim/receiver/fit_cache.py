"""Fitted decoders and linear heads (the receiver's heads and the reconstruction classifiers) kept
in the cache beside the encoders, so that a run, a sweep's next cell or a rerun that fits the same
model on the same data loads it instead of fitting it again.

An entry is keyed by the SHA-256 of everything its fit reads: the exact training features and
targets (or labels), bytes, shape and dtype, hence everything upstream of them (the data, the
encoders and their cache key, the scheme, the RFS set and its size T, noise-aware copies), the
model's name and options, the fitting settings, the random generator's state, the device and the
library version that fits it. Two fits with the same key give the same model, so a loaded entry
gives results identical to the byte to fitting anew; a different input is a different entry.
Entries go through :func:`semcom_sim.cache.load_or_build` (verified reads, a corrupt entry
discarded and rebuilt, atomic writes under a per-entry lock), in ``<cache>/decoders/`` and
``<cache>/heads/``. A cache folder that cannot be written is no error here: the model is fitted
and used uncached (the encoders, which a run cannot do without, already refuse it up front).
"""
from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Callable

import torch

from ..cache import InvalidEntry, check_writable, entry_is_valid, load_or_build
from ..errors import UserError
from .decoders import DECODERS, Decoder, fit_decoder
from .heads import HEAD_SOLVER, LinearHead

log = logging.getLogger(__name__)


def digest(*parts) -> str:
    """Hex SHA-256 of tensors (dtype, shape and bytes) and of the ``repr`` of anything else."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().cpu().contiguous()
            h.update(f"tensor {t.dtype} {tuple(t.shape)}\n".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(f"{part!r}\n".encode())
    return h.hexdigest()


def _load_or_fit(path: Path, fit: Callable, save: Callable, load: Callable):
    if not entry_is_valid(path):
        try:
            check_writable(path.parent)
        except UserError as e:
            log.warning("semcom-sim: %s; fitting %s without caching it", e, path.name)
            return fit()
    return load_or_build(path, fit, save, load)[0]


def cached_decoder(cache_dir: Path | None, name: str, features: torch.Tensor, targets: torch.Tensor, *,
                   options: dict, epochs: int, lr: float, batch_size: int, generator: torch.Generator) -> Decoder:
    """:func:`~semcom_sim.receiver.decoders.fit_decoder` with the same arguments, through the cache
    in ``cache_dir`` (None: fitted, not cached)."""
    def fit() -> Decoder:
        return fit_decoder(name, features, targets, options=options, epochs=epochs, lr=lr, batch_size=batch_size,
                           generator=generator)

    if cache_dir is None:
        return fit()
    key = digest("decoder", torch.__version__, name, sorted(options.items()), epochs, lr, batch_size,
                 generator.get_state(), str(features.device), features, targets)
    with torch.random.fork_rng(devices=[]):  # a template for the stored weights: no stream consumed
        template = DECODERS[name].from_targets(features.shape[-1], targets, **options)
    template = template.to(features.device, features.dtype)
    expected = {k: (tuple(v.shape), v.dtype) for k, v in template.state_dict().items()}

    def save(decoder: Decoder, f) -> None:
        torch.save({"state": decoder.state_dict()}, f)

    def load(f) -> Decoder:
        blob = torch.load(io.BytesIO(f.read()), map_location=features.device, weights_only=True)
        state = blob.get("state") if isinstance(blob, dict) else None
        if not isinstance(state, dict) or {k: (tuple(v.shape), v.dtype) for k, v in state.items()} != expected:
            raise InvalidEntry(f"not the weights of a {name} decoder for these features")
        template.load_state_dict(state)
        return template.eval().requires_grad_(False)

    return _load_or_fit(Path(cache_dir) / "decoders" / f"{name}-{key[:24]}.pt", fit, save, load)


def cached_head(cache_dir: Path | None, fit: Callable[..., LinearHead], features: torch.Tensor,
                labels: torch.Tensor, l2: float, tol: float) -> LinearHead:
    """``fit(features, labels, l2, tol)`` (a linear head: weight [C, F], bias [C] in the features'
    dtype), through the cache in ``cache_dir`` (None: fitted, not cached)."""
    if cache_dir is None:
        return fit(features, labels, l2, tol)
    from scipy import __version__ as scipy_version

    key = digest("head", HEAD_SOLVER, scipy_version, torch.__version__, getattr(fit, "__qualname__", repr(fit)), l2, tol,
                 str(features.device), features, labels)

    def save(head: LinearHead, f) -> None:
        torch.save({"weight": head.weight, "bias": head.bias}, f)

    def load(f) -> LinearHead:
        blob = torch.load(io.BytesIO(f.read()), map_location=features.device, weights_only=True)
        if not (isinstance(blob, dict) and set(blob) == {"weight", "bias"}
                and all(isinstance(v, torch.Tensor) and v.dtype == features.dtype for v in blob.values())
                and blob["weight"].dim() == 2 and blob["weight"].shape[1] == features.shape[-1]
                and blob["bias"].shape == blob["weight"].shape[:1]):
            raise InvalidEntry("not a linear head for these features")
        return LinearHead(blob["weight"], blob["bias"])

    return _load_or_fit(Path(cache_dir) / "heads" / f"{key[:24]}.pt", lambda: fit(features, labels, l2, tol),
                        save, load)
