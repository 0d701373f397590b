"""Links: how a payload [N, V, T] becomes channel symbols and comes back, as registered blocks.

A link is one module here holding the whole of it: its options (a pydantic model, written
``{name: NAME, options: {...}}`` in ``transmitter.links``), the transmitter half (modulation,
quantiser, code), the receiver half (demodulation, demapper, decoder), its cost for the budgets,
how it spends extra bandwidth, its receiver key and its plot style. :func:`monte_carlo` runs any
link over any channel. Adding a link: one module that registers a :class:`Link` subclass (see
analog.py), plus its import below.
"""
from __future__ import annotations

from ..registry import Registry
from .base import Link, LinkCost, LinkOptions, by_link, monte_carlo

LINKS: Registry = Registry("link", base=Link)

from . import aircomp, analog, digital, nr  # noqa: E402,F401  (register the links)

__all__ = ["LINKS", "Link", "LinkCost", "LinkOptions", "by_link", "monte_carlo"]
