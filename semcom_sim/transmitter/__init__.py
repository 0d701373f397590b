"""Transmitter: what is sent per instance (scheme, RFS) and the plan of a run's transmissions; the
links that turn payloads into channel symbols are in :mod:`semcom_sim.links`.

Names are imported on first use, so that importing the package stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"SCHEMES": ".schemes", "build_payload": ".payload", "centroid": ".schemes", "rfs_indices": ".payload"}
__all__ = list(_LAZY)

from . import media  # noqa: E402,F401  (registers the media scheme; its codecs load on first use)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
