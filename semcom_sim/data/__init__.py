"""Data sources: each yields the same semantic instances seen in several modalities."""
from __future__ import annotations

from ..registry import Registry
from .dataset import MultimodalData
from .source import DataSource

SOURCES: Registry = Registry("data source", base=DataSource)

from . import digits, embeddings, image_caption, numbers  # noqa: E402,F401  (register the built-in sources)

__all__ = ["SOURCES", "DataSource", "MultimodalData"]
