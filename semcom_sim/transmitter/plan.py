"""What a run transmits: every scheme x RFS fraction x link, plus equal-bandwidth variants.

The scenario names schemes and links with their options (``{name: NAME, options: {...}}``); here
each becomes a typed use of its registered class, so the rest of the run asks the class, never the
name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from ..scenario import ComponentSpec, Scenario
from ..links import LINKS, Link
from ..links.base import LinkOptions
from .schemes import SCHEMES, Scheme, SchemeOptions

# the scheme the equal-bandwidth variants send: one vector per instance, M times cheaper than the
# conventional one, whose bandwidth they spend
EQUAL_BANDWIDTH_SCHEME = "centroid"


def _canonical(options) -> str:
    """The options that differ from their defaults, as stable text ('' at the defaults)."""
    dump = options.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(dump, sort_keys=True, separators=(",", ":")) if dump else ""


@dataclass(frozen=True)
class PayloadUse:
    """A registered scheme with its options: what builds a payload."""

    name: str
    options: SchemeOptions

    @property
    def key(self) -> str:
        """Names its payloads' random streams and receivers: the bare name at default options, so
        that adding options to a scheme moves no existing stream."""
        return self.name + _canonical(self.options)

    @cached_property
    def scheme(self) -> Scheme:
        return SCHEMES[self.name](self.options)


@dataclass(frozen=True)
class LinkUse:
    """A registered link with its options, under the label results.csv gives it."""

    label: str
    name: str
    options: LinkOptions

    @property
    def cls(self) -> type[Link]:
        return LINKS[self.name]

    @property
    def key(self) -> str:
        return self.label + _canonical(self.options)

    def fit(self, train_payload) -> Link:
        return self.cls.fit(train_payload, self.options)


@dataclass(frozen=True)
class Transmission:
    """One (scheme, RFS fraction, link) of the run; ``scheme`` is its name in results.csv."""

    scheme: str
    payload: PayloadUse
    keep: float
    link: LinkUse


def link_uses(scenario: Scenario) -> list[LinkUse]:
    """``transmitter.links`` as typed uses (their options validated by each link's model)."""
    return [LinkUse(s.shown, s.name, LINKS[s.name].Options.model_validate(s.options))
            for s in scenario.transmitter.links]


def payload_use(spec: ComponentSpec) -> PayloadUse:
    return PayloadUse(spec.name, SCHEMES[spec.name].Options.model_validate(spec.options))


def carries(link: LinkUse, use: PayloadUse, m: int) -> bool:
    """Whether ``link`` can carry the payloads of ``use`` for ``m`` modalities (the link's ``refuses``)."""
    return link.cls.refuses(link.options, use.scheme, use.scheme.vectors(m)) is None


def transmissions(scenario: Scenario) -> list[Transmission]:
    tx_cfg = scenario.transmitter
    m = len(scenario.data.modalities)
    links = link_uses(scenario)
    schemes = [(s.shown, payload_use(s)) for s in tx_cfg.schemes]
    variant = PayloadUse(EQUAL_BANDWIDTH_SCHEME, SCHEMES[EQUAL_BANDWIDTH_SCHEME].Options())
    # a scheme that sends files sends them whole: RFS cuts embeddings, so it goes once, at keep 1
    plan = [Transmission(label, use, 1.0, link) for label, use in schemes if use.scheme.sends_files
            for link in links if carries(link, use, m)]
    for keep in tx_cfg.rfs_keep:
        for label, use in schemes:  # each scheme over every link that can carry it
            plan += [Transmission(label, use, keep, link) for link in links
                     if not use.scheme.sends_files and carries(link, use, m)]
        for mode in tx_cfg.equal_bandwidth:
            name = f"{EQUAL_BANDWIDTH_SCHEME}_eq_{mode}"
            if mode == "rfs":  # more coordinates: any link that carries the scheme carries them
                plan += [Transmission(name, variant, min(1.0, m * keep), link) for link in links
                         if carries(link, variant, m)]
                continue
            for link in links:  # each link says whether and how it spends M times the channel uses
                spent = link.cls.spend(link.options, mode, m)
                if spent is not None:
                    plan.append(Transmission(name, variant, keep, LinkUse(link.label, link.name, spent)))
    return plan
