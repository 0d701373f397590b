"""Transmitter: what is sent (scheme, RFS) and how it becomes channel symbols (link)."""
from .analog import AnalogLink
from .payload import SCHEMES, build_payload, centroid, rfs_indices

__all__ = ["AnalogLink", "SCHEMES", "build_payload", "centroid", "rfs_indices"]
