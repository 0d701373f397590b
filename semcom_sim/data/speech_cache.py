"""Synthesised speech kept in the data cache: one entry per (utterances, styles, seed), keyed by a
hash of everything that decides the audio."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..cache import InvalidEntry, load_or_build

__all__ = ["speech_key", "audio_loader", "cached_speech"]


def speech_key(fields: dict[str, Any]) -> str:
    """16 hex digits naming a cache entry; ``fields`` must hold whatever changes the audio."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def audio_loader(shape: tuple[int, ...]):
    """The cache's loader of a synthesised-speech entry: a float32 array of exactly ``shape``."""

    def load(f) -> np.ndarray:
        audio = np.load(f, allow_pickle=False)
        if not isinstance(audio, np.ndarray) or audio.shape != shape or audio.dtype != np.float32:
            raise InvalidEntry(f"expected a float32 array of shape {shape}, found "
                               f"{getattr(audio, 'dtype', type(audio).__name__)} {getattr(audio, 'shape', '')}")
        return audio

    return load


def cached_speech(path: Path, shape: tuple[int, ...], build: Callable[[], np.ndarray]) -> np.ndarray:
    """The float32 audio of ``shape`` at ``path``, synthesised by ``build`` when the entry is missing
    or invalid; verified, locked (one synthesis per entry across runs) and atomically written."""

    def synthesised() -> np.ndarray:
        return np.ascontiguousarray(build(), dtype=np.float32)  # what the loader accepts

    audio, _ = load_or_build(path, synthesised, lambda a, f: np.save(f, a, allow_pickle=False), audio_loader(shape))
    return audio
