"""Transmission schemes (docs/method.md, section 'Semantic compression'): what is sent per
instance, before RFS.

A scheme turns the M unit-norm embeddings of an instance into V vectors of D values, says which
of them each modality's decoder reads, and how many bits of side information it sends per
instance. Adding a scheme is one class here (or a module of its own importing ``SCHEMES``),
registered by name, with its options as a pydantic model of its own (``Options``; a scenario
writes ``{name: NAME, options: {...}}``); the plan, results, plots and tables take scheme names
from the scenario or the results, never from a fixed list.
"""
from __future__ import annotations

import math
from typing import ClassVar, Mapping

import torch
from pydantic import BaseModel, ConfigDict

from ..registry import Registry


class SchemeOptions(BaseModel):
    """A scheme's options; a scheme with options subclasses it. Frozen and hashable: the options
    decide the payload, which the run keys its payloads and receivers by."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def centroid(z: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """mu_k = (1/M) sum_m z_k^m: {modality: float [N, D]} -> float [N, D], same dtype (not
    re-normalised: the receiver's heads see the plain mean).

    >>> import torch
    >>> from semcom_sim.blocks import centroid
    >>> centroid({"image": torch.tensor([[1.0, 0.0]]), "audio": torch.tensor([[0.0, 1.0]])})
    tensor([[0.5000, 0.5000]])
    """
    return torch.stack(list(z.values())).mean(0)


def get_scheme(name: str, options: SchemeOptions | None = None) -> "Scheme":
    """The registered scheme ``name`` (``conventional``, ``centroid``, ``centroid_residual``, ...)
    with its ``options`` (default: its defaults), ready to use.

    >>> from semcom_sim.blocks import get_scheme
    >>> scheme = get_scheme("centroid")
    >>> scheme.vectors(3), scheme.side_bits(3)        # V and side bits for M = 3 modalities
    (1, 0)
    """
    return SCHEMES[name](options)


class Scheme:
    """What is sent per instance: ``payload`` turns {modality: float [N, D]} and the RFS
    coordinates int64 [T] into a real payload [N, V, T] (same dtype). Subclasses implement
    ``vectors``, ``payload`` and ``decoder_vector``.

    >>> import torch
    >>> from semcom_sim.blocks import get_scheme
    >>> z = {m: torch.randn(5, 8) for m in ("image", "audio", "text")}
    >>> idx = torch.arange(4)                            # keep coordinates 0..3 (T = 4)
    >>> names = ["conventional", "centroid", "centroid_residual"]
    >>> [tuple(get_scheme(n).payload(z, idx).shape) for n in names]
    [(5, 3, 4), (5, 1, 4), (5, 2, 4)]
    """

    Options: ClassVar[type[SchemeOptions]] = SchemeOptions
    # True: the payload crosses the link as whole files of the instance's own data (the media
    # scheme), carried only by a link that ``carries_files``
    sends_files: ClassVar[bool] = False

    def __init__(self, options: SchemeOptions | None = None):
        self.options = options or self.Options()

    def vectors(self, m: int) -> int:
        """V: vectors sent per instance for M modalities."""
        raise NotImplementedError

    def payload(self, z: Mapping[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        """{modality: [N, D]} and the RFS coordinates [T] -> [N, V, T]."""
        raise NotImplementedError

    def decoder_vector(self, modality: int, m: int) -> int:
        """Which of the V vectors the decoder of modality number ``modality`` reads."""
        raise NotImplementedError

    def check_scenario(self, scenario, source, shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise ValueError where this scheme cannot send the scenario's data (``source``: the
        scenario's data source, ``shapes``: its input shape per modality), before any work."""

    def side_bits(self, m: int) -> int:
        """Bits of side information per instance (counted in results.csv's ``bits``)."""
        return 0

    def head_reads(self, received: torch.Tensor) -> torch.Tensor:
        """What the receiver's head and decoders read of the vectors that arrive [..., V', T] (V'
        the link's ``vectors_out``): by default the vectors as they arrive."""
        return received


SCHEMES: Registry = Registry("scheme", base=Scheme)


@SCHEMES.register("conventional")
class Conventional(Scheme):
    """All M vectors; the same RFS index set cuts each, so its TTI is exactly M times the centroid's."""

    def vectors(self, m: int) -> int:
        return m

    def payload(self, z, idx):
        return torch.stack([v[:, idx] for v in z.values()], dim=1)

    def decoder_vector(self, modality: int, m: int) -> int:
        return modality


@SCHEMES.register("centroid")
class Centroid(Scheme):
    """The one centroid: 1/M of the conventional bandwidth; every decoder reads it."""

    def vectors(self, m: int) -> int:
        return 1

    def payload(self, z, idx):
        return centroid(z)[:, idx].unsqueeze(1)

    def decoder_vector(self, modality: int, m: int) -> int:
        return 0


@SCHEMES.register("centroid_residual")
class CentroidResidual(Scheme):
    """The centroid plus, per instance, the one modality vector farthest from it (Euclidean, in all
    D dimensions): V = 2, and the index of that modality, ceil(log2 M) bits, as side information.

    Where the gap is open, the farthest modality carries what the centroid averages away; where it is
    closed, the second vector is nearly a copy and buys little. The decoders read the centroid, so
    reconstruction compares with the plain centroid; the heads read both vectors.
    """

    def vectors(self, m: int) -> int:
        return 2

    def payload(self, z, idx):
        stacked = torch.stack(list(z.values()))  # [M, N, D]
        mu = stacked.mean(0)
        far = (stacked - mu).square().sum(-1).argmax(0)  # [N]
        residual = stacked[far, torch.arange(stacked.shape[1], device=stacked.device)]
        return torch.stack([mu[:, idx], residual[:, idx]], dim=1)

    def decoder_vector(self, modality: int, m: int) -> int:
        return 0

    def check_scenario(self, scenario, source, shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise ValueError where this scheme cannot send the scenario's data (``source``: the
        scenario's data source, ``shapes``: its input shape per modality), before any work."""

    def side_bits(self, m: int) -> int:
        return math.ceil(math.log2(m)) if m > 1 else 0


@SCHEMES.register("receiver_centroid")
class ReceiverCentroid(Scheme):
    """M devices, each sending its own modality's vector (V = M); the receiver forms the centroid of
    what arrives and reads it as the centroid scheme's receiver does. Over a link that sends the
    vectors one after the other (analog: M orthogonal slots) the receiver averages them
    ("compute after communicate"); over one whose channel adds them (aircomp) one vector arrives,
    already the centroid, and averaging it changes nothing."""

    def vectors(self, m: int) -> int:
        return m

    def payload(self, z, idx):
        return torch.stack([v[:, idx] for v in z.values()], dim=1)

    def decoder_vector(self, modality: int, m: int) -> int:
        return 0  # of what the head reads: the one centroid

    def head_reads(self, received: torch.Tensor) -> torch.Tensor:
        return received.mean(-2, keepdim=True)
