"""Links: how a payload [N, V, T] becomes channel symbols and comes back, as registered blocks.

A link pairs a transmitter half (``semcom_sim/transmitter/``: modulation, quantiser, code) with
its receiver half (``semcom_sim/receiver/``: demodulation, demapper, decoder); :func:`monte_carlo`
runs any link over any channel. Adding a link: one module here that registers a :class:`Link`
subclass (see analog.py), plus its import below.
"""
from __future__ import annotations

from ..registry import Registry
from .base import Link, monte_carlo

LINKS: Registry = Registry("link")

from . import analog, digital  # noqa: E402,F401  (register the links)

__all__ = ["LINKS", "Link", "monte_carlo"]
