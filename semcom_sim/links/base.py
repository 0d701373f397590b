from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from ..channel.base import reused_buffers


class LinkOptions(BaseModel):
    """A link's options as the scenario writes them (``{name: NAME, options: {...}}``); a link with
    options subclasses it. Frozen and hashable: the options are part of a receiver's key."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class LinkCost:
    """What one vector of a transmission costs on a link, counted without building it (the budgets
    of ``semcom_sim.scenario.budget`` add these up)."""

    uses: int  # complex channel uses
    decoded_bits: int = 0  # coded bits through an iterative decoder (0: nothing is decoded)
    iterations: int = 0  # that decoder's iterations
    # symbols the link pushes through a channel with one SINR per vector (``Channel.one_sinr_per_block``)
    # where it needs only each block's SINR (the nr link's abstraction: one per block); None: every use
    sinr_symbols: int | None = None
    # the same through a channel with i.i.d. SINRs per symbol (``Channel.iid_sinr_per_symbol``), where it
    # draws long blocks' EESM from their law (nr_abstraction.law_symbols); None: every use
    law_symbols: int | None = None


class Link:
    """One link fitted on the training payloads of one transmission (scheme, RFS fraction): the
    transmitter half (payload -> channel symbols) and the receiver half (channel output -> payload),
    with its options, its cost for the budgets and its plot style.

    Shapes: payload [N, V, T]; ``no`` [S] noise variances, one per SNR point; a chunk of r draws
    comes back as payload_hat [S, r, N, V', T] in the payload's dtype, V' = ``vectors_out(V)`` (V but
    for a link whose channel superposes the vectors).

    >>> import torch
    >>> from semcom_sim.blocks import Analog, SnrPoints, channel_from_preset
    >>> payload = torch.randn(6, 1, 10)                  # [N, V, T]
    >>> link = Analog.fit(payload)                       # fitted on the training payloads
    >>> sent = link.send(payload)                        # encoded once
    >>> snr = SnrPoints.of([5.0, 20.0], torch.float32, "cpu")
    >>> payload_hat, counts = link.receive(channel_from_preset("awgn"), sent, snr.no, draws=4)
    >>> payload_hat.shape                                # [S, r, N, V, T]
    torch.Size([2, 4, 6, 1, 10])
    """

    Options: ClassVar[type[LinkOptions]] = LinkOptions
    line_style: ClassVar[Any] = "-"  # matplotlib line style of its curves
    # False: the V vectors of an instance take V x channel_uses uses and come out as V vectors;
    # True: they are sent at once by V devices and the channel adds them (over-the-air computation):
    # channel_uses uses per instance, one vector out
    superposes: ClassVar[bool] = False
    # True: it can also carry whole files (a scheme that ``sends_files``), through ``carry_files``
    carries_files: ClassVar[bool] = False

    options: LinkOptions

    # ----------------------------------------------------------------- before anything is built

    @classmethod
    def cost(cls, options: LinkOptions, payload_len: int) -> LinkCost:
        """Channel uses and decoding work per vector of ``payload_len`` values."""
        raise NotImplementedError

    @classmethod
    def chunk_bytes(cls, options: LinkOptions, symbols_per_draw: int, draws: int, decoded_values: int,
                    value_bytes: int) -> int:
        """Peak memory of the Monte Carlo stage: ``symbols_per_draw`` channel symbols in one draw
        over every SNR point, ``draws`` draws, ``decoded_values`` payload values decoded over all
        draws, ``value_bytes`` per real value; follows the link's own ``draws_per_chunk`` rule."""
        raise NotImplementedError

    @classmethod
    def check(cls, options: LinkOptions, payload_len: int) -> None:
        """Raise ValueError for a transmission this link cannot carry, before any work."""

    @classmethod
    def refuses(cls, options: LinkOptions, scheme, vectors: int) -> str | None:
        """Why this link cannot carry ``scheme`` (a :class:`~semcom_sim.transmitter.schemes.Scheme`)
        sending ``vectors`` vectors per instance, or None where it can: the plan leaves such pairs
        out, and validation refuses a link that carries none of the scenario's schemes."""
        if getattr(scheme, "sends_files", False) and not cls.carries_files:
            return (f"{cls.__name__} carries embeddings, not files: a scheme that sends its data as files "
                    "(media) needs a link that carries files (nr)")
        return None

    @classmethod
    def carry_files(cls, options: LinkOptions, files: list[torch.Tensor], mean: torch.Tensor,
                    lost: torch.Tensor) -> "Link":
        """The link that carries, per instance, one file per modality of a scheme that ``sends_files``:
        ``files`` uint8 [N, L_m] per modality (zero-padded), ``mean`` [M, D] what a lost file's
        modality delivers, ``lost`` bool [N, M] files the receiver cannot decode even when they arrive."""
        raise NotImplementedError(f"{cls.__name__} carries no files")

    @classmethod
    def files_cost(cls, options: LinkOptions, file_bytes: list[int]) -> LinkCost:
        """What ``carry_files`` would cost per instance for one file per modality of these sizes in
        bytes, counted without building it (the budgets)."""
        raise NotImplementedError(f"{cls.__name__} carries no files")

    @classmethod
    def check_channel(cls, options: LinkOptions, preset) -> None:
        """Raise ValueError where this link cannot cross the channel preset ``preset`` (a
        :class:`~semcom_sim.scenario.ChannelPreset`), before any work."""

    @classmethod
    def spend(cls, options: LinkOptions, mode: str, factor: int) -> LinkOptions | None:
        """The options that spend ``factor`` times the channel uses per vector in the way ``mode``
        names (``transmitter.equal_bandwidth``: ``bits``, ``code_rate``), or None where this link
        cannot spend bandwidth that way (``rfs`` is the payload's, not the link's)."""
        return None

    @classmethod
    def fit(cls, train_payload: torch.Tensor, options: LinkOptions | None = None) -> "Link":
        """From the training payloads [N, V, T] (e.g. the power normalisation, a quantiser's range)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- a fitted link

    @property
    def channel_uses(self) -> int:
        """Complex channel uses per transmitted vector."""
        raise NotImplementedError

    @property
    def info_bits(self) -> int:
        """Information bits per vector; 0 where the symbols do not carry bits (analog)."""
        return 0

    @property
    def receiver_key(self) -> tuple:
        """What a receiver trained through this link depends on: links with equal keys deliver
        statistically the same payloads (a noise-aware receiver is shared between them)."""
        return (type(self).__name__, self.options)

    def at_snr(self, snr_db: list[float], per_instance: bool, vectors: int) -> list["Link"]:
        """The link used at each of the SNR points ``snr_db`` (per channel use, or E_inst/N0 with
        ``per_instance``) for instances of ``vectors`` vectors: itself, but for a link that adapts
        its rate to the SNR (another object per rate, with its own channel uses and bits)."""
        return [self] * len(snr_db)

    def vectors_out(self, v: int) -> int:
        """Vectors per instance that come out of the link when ``v`` go in."""
        return 1 if self.superposes else v

    def instance_uses(self, v: int) -> int:
        """Channel uses per instance of ``v`` vectors (results.csv ``channel_uses``)."""
        return self.channel_uses if self.superposes else v * self.channel_uses

    def instance_bits(self, v: int) -> int:
        """Information bits per instance of ``v`` vectors (results.csv ``bits``, side bits aside)."""
        return v * self.info_bits

    def energy_uses(self, v: int) -> int:
        """Channel uses whose energy an instance of ``v`` vectors spends: every device's, sent apart
        or at once (what E_inst/N0 counts)."""
        return v * self.channel_uses

    def delivered(self, channel, v: int, snr: torch.Tensor) -> torch.Tensor | None:
        """Probability [S] that the capacity reference delivers every one of an instance's ``v``
        vectors at each linear SNR [S]; None where there is no reference."""
        bits = self.capacity_bits()
        if bits is None:
            return None
        one = channel.delivery_probability(bits, self.channel_uses, snr)
        return None if one is None else one ** v

    def capacity_bits(self) -> int | None:
        """Information bits per vector that the capacity reference delivers in ``channel_uses``; None
        where the link has no single-user reference (its acc_top1_capacity column stays empty)."""
        raise NotImplementedError

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        """The payload [N, V, T] as the receiver gets it without noise (e.g. quantised), [N,
        vectors_out(V), T]."""
        return payload

    def send(self, payload: torch.Tensor) -> Any:
        """Encode once: whatever ``receive`` needs (the symbols, and e.g. the bits to count errors)."""
        raise NotImplementedError

    def draws_per_chunk(self, sent: Any, snr_points: int, draws: int) -> int:
        """How many draws go through the channel at once: the link's memory rule."""
        raise NotImplementedError

    def receive(self, channel, sent: Any, no: torch.Tensor, draws: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``draws`` realisations of the channel at every SNR point -> (payload_hat, counts [S])."""
        raise NotImplementedError

    def receive_each(self, channel, sent: Any, no: torch.Tensor) -> torch.Tensor:
        """One realisation of the channel per instance, instance i at noise variance ``no[i]`` ([N],
        e.g. a noise-aware receiver's training SNRs) -> payload_hat [N, V, T]."""
        raise NotImplementedError

    def error_rates(self, counts: dict[str, torch.Tensor], draws: int, payload_shape: torch.Size) -> dict[str, torch.Tensor]:
        """results.csv columns [S] from the counts summed over all draws (e.g. BER, BLER)."""
        return {}


def by_link(links: list[Link]) -> list[tuple[Link, list[int]]]:
    """The positions of ``links`` (e.g. :meth:`Link.at_snr`'s answer) grouped by link, in order of
    first appearance."""
    groups: dict[int, tuple[Link, list[int]]] = {}
    for i, link in enumerate(links):
        groups.setdefault(id(link), (link, []))[1].append(i)
    return list(groups.values())


def monte_carlo(link: Link, payload: torch.Tensor, channel, no: torch.Tensor, draws: int,
                measure: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Every metric of ``measure`` (payload_hat [S, r, ...], the draws it holds: a range of the
    ``draws`` -> {name: [S, r]}), [S] per SNR point,
    averaged over ``draws`` channel realisations, plus the link's own error rates and, for a channel
    that sends pilots, the channel uses they take per instance (``pilot_uses``).

    The payload is encoded once; SNR points and a chunk of draws cross the channel together.

    >>> import torch
    >>> from semcom_sim.blocks import Analog, SnrPoints, channel_from_preset, monte_carlo
    >>> payload = torch.randn(32, 1, 16)
    >>> link, channel = Analog.fit(payload), channel_from_preset("awgn")
    >>> snr = SnrPoints.of([0.0, 20.0], torch.float32, "cpu")
    >>> mse = lambda p, d: {"mse": (p - payload).square().mean((-3, -2, -1))}   # [S, r, ...] -> [S, r]
    >>> out = monte_carlo(link, payload, channel, snr.no, draws=8, measure=mse)
    >>> out["mse"].shape, bool(out["mse"][0] > out["mse"][1])
    (torch.Size([2]), True)
    """
    sent = link.send(payload)
    chunk = link.draws_per_chunk(sent, no.shape[0], draws)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, torch.Tensor] = {}
    with reused_buffers():  # each chunk's channel output in the memory of the chunk before
        for start in range(0, draws, chunk):
            r = min(chunk, draws - start)
            payload_hat, c = link.receive(channel, sent, no, r)
            for k, v in measure(payload_hat, range(start, start + r)).items():
                sums[k] = sums.get(k, 0.0) + v.sum(1)
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
            del payload_hat  # its memory free for the next chunk's
    out = {k: v / draws for k, v in sums.items()}
    out.update(link.error_rates(counts, draws, payload.shape))
    if channel.pilot_uses_per_vector:  # results.csv pilot_uses: per instance, besides the link's channel_uses
        out["pilot_uses"] = torch.full((no.shape[0],), float(payload.shape[1] * channel.pilot_uses_per_vector),
                                       dtype=torch.float64)
    return out
