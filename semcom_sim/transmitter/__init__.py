"""Transmitter: what is sent (scheme, RFS) and how it becomes channel symbols (link).

Names are imported on first use: the digital link pulls in Sionna (about a second), which
validating an analog scenario never needs.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"AnalogLink": ".analog", "DigitalLink": ".digital", "SCHEMES": ".schemes", "build_payload": ".payload",
         "centroid": ".schemes", "rfs_indices": ".payload"}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
