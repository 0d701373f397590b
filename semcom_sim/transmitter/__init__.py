"""Transmitter: what is sent (scheme, RFS) and how it becomes channel symbols (link)."""
from .analog import AnalogLink
from .digital import DigitalLink, DigitalResult, capacity_delivery_probability
from .payload import SCHEMES, build_payload, centroid, rfs_indices

__all__ = ["AnalogLink", "DigitalLink", "DigitalResult", "SCHEMES", "build_payload", "capacity_delivery_probability",
           "centroid", "rfs_indices"]
