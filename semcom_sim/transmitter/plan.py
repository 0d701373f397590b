"""What the sweep transmits: every scheme x RFS fraction x link, plus equal-bandwidth variants."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Scenario


@dataclass(frozen=True)
class Transmission:
    """One (scheme, RFS fraction, link) of the sweep; equal-bandwidth variants are centroids."""

    scheme: str  # name in results.csv
    payload_scheme: str  # the registered scheme that builds its payload
    keep: float
    link: str
    bits: int = 0
    code_rate: float = 0.0


def transmissions(scenario: Scenario) -> list[Transmission]:
    tx_cfg, dig = scenario.transmitter, scenario.transmitter.digital
    m = len(scenario.data.modalities)
    plan = []
    for keep in tx_cfg.rfs_keep:
        for scheme in tx_cfg.schemes:
            plan += [Transmission(scheme, scheme, keep, link, dig.bits, dig.code_rate) for link in tx_cfg.links]
        for mode in tx_cfg.equal_bandwidth:
            name = f"centroid_eq_{mode}"
            if mode == "rfs":
                plan += [Transmission(name, "centroid", min(1.0, m * keep), link, dig.bits, dig.code_rate)
                         for link in tx_cfg.links]
            elif "digital" in tx_cfg.links:
                bits, rate = (m * dig.bits, dig.code_rate) if mode == "bits" else (dig.bits, dig.code_rate / m)
                plan.append(Transmission(name, "centroid", keep, "digital", bits, rate))
    return plan
