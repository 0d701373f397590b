"""What a data source owes the rest of the simulator: the base class every registered source subclasses."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Collection

from .dataset import MultimodalData

__all__ = ["DataSource", "data_directory"]

_DIR_ENV = {"image_dir": "SEMCOM_SIM_MNIST_DIR", "audio_dir": "SEMCOM_SIM_FSDD_DIR"}


class DataSource(ABC):
    """A source of instances each seen in several modalities, built from ``data.options``.

    ``input_shapes`` and ``load`` are required. ``instance_counts`` and ``caption_tokens`` are
    optional answers that let validation budget a run before any data is read; the defaults say
    "unknown" (None), and what depends on the answer is then not checked.
    """

    modalities: Collection[str] = ()  # the class's, so checks name a missing modality before constructing it
    media: bool = True  # its inputs are media (images, waveforms, token ids) a codec can compress, not embeddings

    @abstractmethod
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """One instance's shape per modality, known before any data is loaded."""

    @abstractmethod
    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        """(train, test); ``limit`` keeps that many instances in all."""

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int] | None:
        """(train, test) sizes that ``load`` would return, without reading the data; None: unknown
        (``semcom_sim.scenario.budget`` then skips the budgets that depend on the data's size)."""
        return None

    def caption_tokens(self) -> int | None:
        """Distinct token ids its captions can hold, the bound of a caption decoder's vocabulary;
        None: unknown (the decoder is then budgeted at the largest vocabulary its training captions
        allow)."""
        return None


def data_directory(option: str, value: str | None) -> Path:
    """A data directory from the scenario, else from its environment variable; never guessed."""
    env = _DIR_ENV[option]
    value = value or os.environ.get(env)
    if not value:
        raise ValueError(f"{option}: not given; set it in the scenario or in ${env}")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(f"{option}: directory {path} does not exist (set it in the scenario or in ${env})")
    return path
