"""Over-the-air computation (AirComp): the V vectors of an instance are sent at once, each by its own
single-antenna device, and the multiple-access channel adds them; the receiver reads the centroid.

Each device maps its vector to ceil(T / 2) complex symbols as the analog link does (one common power
normalisation: mean energy per channel use 1 per device) and inverts its own channel coefficient h_m,
read from the scenario's preset as a multiple-access channel (AWGN: every h_m = 1; Rayleigh, Rician:
i.i.d. per device from the preset's own generator, one per instance for block fading, one per channel
use for fast fading). Truncated channel inversion (Zhu, Wang and Huang, "Broadband analog aggregation
for low-latency federated edge learning", 2019): with g_m = |h_m|^2 as the device knows it,

    b_m = sqrt(rho) / h_m  if g_m >= threshold, else 0 (the device is silent),

and with ``energy_limit`` E the inversion energy rho / g_m is capped at E (the device keeps its phase,
its gain falls short). rho, the common receive scaling, makes the mean energy per channel use of a
device 1 without the cap: rho = 1 / E[1/g; g >= threshold], from 2^18 draws of the preset's coefficients
(Rayleigh: rho = 1 / E1(threshold)); the cap can only lower that mean. Sionna's
``ApplyFlatFadingChannel`` with the M devices as transmit antennas and one receive antenna forms

    y = sum_m h_m b_m x_m + n = sqrt(rho) sum_{m active} x_m + n  (aligned),  n ~ CN(0, N0).

The receiver knows K, the number of active devices (assumed known, not counted in ``bits``: it costs
ceil(log2(M + 1)) bits per coherence block in practice), and takes the scalar linear MMSE estimate of
the centroid c of the active devices, y = a c + n with a = K sqrt(rho): c_hat = a e_c / (a^2 e_c + N0) y,
e_c the centroid's mean energy per channel use on the training payloads. K = 0: c_hat = 0.

CSI at the devices (``csi``): perfect, or the least-squares estimate from ``pilots`` symbols the
receiver broadcasts through the same (reciprocal, block-fading) coefficients, by the estimated-CSI
machinery of channel/flat.py: h_hat = h + e, e ~ CN(0, N0 / pilots). The devices then truncate and
invert h_hat, so the terms of the sum arrive misaligned. The pilots are reported as results.csv's
``pilot_uses`` (one broadcast per instance, whatever M). Columns of its own: ``silent_fraction``, the
fraction of device transmissions (per coefficient) below the threshold.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator

from . import LINKS
from .analog import Analog
from .base import LinkOptions

MAX_PILOTS = 1024
# channel models whose coefficients can be drawn per device (flat: one coefficient per device and use)
MAC_MODELS = ("awgn", "rayleigh", "rician")
# coefficients drawn to fix rho: its relative error is below 0.5 % for threshold >= 0.01 (Rayleigh)
RHO_SAMPLE = 1 << 18


class AircompOptions(LinkOptions):
    threshold: float = Field(0.1, ge=0.0, description=(
        "truncated channel inversion: a device whose channel gain |h|^2 (as it knows it) is below this "
        "is silent; under fading it must be above 0 (full inversion has an infinite mean energy)"))
    energy_limit: float | None = Field(None, gt=0.0, description=(
        "peak energy per channel use of one device on one coefficient, in units of its mean budget (1): "
        "an inversion needing more is capped here, phase kept, gain short (default: no cap)"))
    csi: Literal["perfect", "estimated"] = Field("perfect", description=(
        "what the devices know of their channel: the coefficients, or their LS estimate from pilots the "
        "receiver broadcasts (block fading only)"))
    pilots: int | None = Field(None, ge=1, le=MAX_PILOTS, description=(
        "pilot symbols per instance for csi: estimated (default 2), reported as results.csv pilot_uses"))

    @model_validator(mode="after")
    def _pilots_need_estimation(self):
        if self.pilots is not None and self.csi == "perfect":
            raise ValueError("pilots applies to csi: estimated only (csi is 'perfect')")
        return self

    @property
    def pilot_count(self) -> int:
        return 0 if self.csi == "perfect" else (self.pilots or 2)


@LINKS.register("aircomp")
class Aircomp(Analog):
    """Payload [N, M, T] from M devices -> the estimated centroid [N, 1, T] in ceil(T / 2) channel uses.

    Cost, chunking and memory rule are the analog link's: every device's symbols are drawn.
    """

    Options = AircompOptions
    superposes = True
    line_style = ":"

    def __init__(self, payload_len: int, scale: float, centroid_energy: float, options: AircompOptions | None = None):
        super().__init__(payload_len, scale)
        self.options = options or AircompOptions()
        self.centroid_energy = centroid_energy  # e_c: mean energy per channel use of the centroid's symbols
        self._rho: dict[int, tuple[object, float]] = {}  # id(channel) -> (channel, rho)
        self._estimator = None
        self._apply = None

    @classmethod
    def fit(cls, train_payload: torch.Tensor, options: AircompOptions | None = None) -> "Aircomp":
        if train_payload.shape[1] < 2:
            raise ValueError("aircomp adds the vectors of several devices: the scheme sends one vector per instance")
        analog = Analog.fit(train_payload)  # the devices' common normalisation: mean energy 1 per use
        centroid = analog.modulate(train_payload.double().mean(1))
        centroid_energy = float(centroid.abs().square().sum(-1).mean() / analog.symbols)
        return cls(analog.payload_len, analog.scale, centroid_energy, options)

    @classmethod
    def refuses(cls, options: AircompOptions, scheme, vectors: int) -> str | None:
        if vectors < 2:
            return (f"aircomp adds the vectors of several devices, but the scheme sends {vectors} per instance; "
                    "it carries a scheme whose head reads the centroid of what arrives (receiver_centroid)")
        probe = torch.arange(vectors, dtype=torch.float64).reshape(1, vectors, 1)
        read = scheme.head_reads(probe)
        if read.shape != (1, 1, 1) or float(read) != float(probe.mean()):
            return ("aircomp delivers the centroid of the devices' vectors: it carries a scheme whose head reads "
                    "the centroid of what arrives (receiver_centroid)")
        return None

    @classmethod
    def check_channel(cls, options: AircompOptions, preset) -> None:
        model, o = preset.model, preset.options
        if model not in MAC_MODELS:
            raise ValueError(f"channel preset {preset.name!r} (model {model!r}) cannot act as a multiple-access "
                             f"channel of single-antenna devices (those that can: {', '.join(MAC_MODELS)})")
        if o.get("num_rx_ant", 1) != 1:
            raise ValueError(f"channel preset {preset.name!r} has {o['num_rx_ant']} receive antennas; aircomp "
                             "aligns the devices at one")
        if o.get("csi", "perfect") != "perfect":
            raise ValueError(f"channel preset {preset.name!r} estimates the receiver's CSI, which aircomp's "
                             "receiver does not use: set the devices' CSI with the link's csi option")
        fading = o.get("fading")
        if fading == "fast" and options.csi == "estimated":
            raise ValueError(f"csi: estimated needs block fading (preset {preset.name!r} is fast fading)")
        if fading is not None and options.threshold == 0:
            raise ValueError(f"threshold 0 under fading (preset {preset.name!r}): full channel inversion has an "
                             "infinite mean energy; give a threshold above 0")

    @property
    def receiver_key(self) -> tuple:
        return (type(self).__name__, self.options)

    def capacity_bits(self) -> None:
        return None  # a single-user code's limit does not apply to a sum formed by the channel

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        return payload.mean(-2, keepdim=True)

    def receive(self, channel, sent: torch.Tensor, no: torch.Tensor, draws: int):
        xs = sent.expand(no.shape[0], draws, *sent.shape)  # [S, r, N, M, L], no copy
        return self._superpose(channel, xs, no)

    def receive_each(self, channel, sent: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        # each instance as its own SNR point of one draw: [N, 1, 1, M, L]
        return self._superpose(channel, sent[:, None, None], no)[0][:, 0, 0]

    def error_rates(self, counts, draws, payload_shape):
        out = {"silent_fraction": counts["silent"] / counts["devices"]}
        if self.options.pilot_count:
            out["pilot_uses"] = torch.full_like(out["silent_fraction"], float(self.options.pilot_count))
        return out

    # ----------------------------------------------------------------- the multiple-access channel

    def _superpose(self, channel, x: torch.Tensor, no: torch.Tensor):
        """x [S, ..., M, L] (device symbols), no [S] -> (centroid estimate [S, ..., 1, T], counts [S])."""
        from sionna.phy.channel import ApplyFlatFadingChannel

        lead, (m, uses) = x.shape[:-2], x.shape[-2:]
        fast = getattr(channel, "fading", "block") == "fast"
        shape = (*lead, m, uses if fast else 1)
        h = self._gains(channel, math.prod(shape), x).reshape(shape)
        no_b = no.reshape(-1, *([1] * (len(shape) - 1)))  # [S, 1, ..., 1] of h's rank
        known = h if self.options.csi == "perfect" else self._estimate(h, no_b)
        g = torch.view_as_real(known).square().sum(-1)
        active = g >= self.options.threshold
        rho = self.rho(channel, x)
        # b = sqrt(rho) / h_known = sqrt(rho) h_known* / g, zero where silent
        b = known.conj() * (math.sqrt(rho) / torch.where(active, g, torch.ones_like(g)) * active)
        if self.options.energy_limit is not None:  # |b|^2 = rho / g capped at E: phase kept, gain short
            b = b * (self.options.energy_limit * g / rho).clamp(max=1.0).sqrt()
        heff = (h * b).transpose(-1, -2).unsqueeze(-2)  # [..., 1 or L, 1 receive, M transmit]
        if self._apply is None:
            self._apply = ApplyFlatFadingChannel(precision=_precision(x), device=str(x.device))
        y = self._apply(x.transpose(-1, -2), heff, no.reshape(-1, *([1] * (len(lead) + 1)))).squeeze(-1)  # [..., L]
        a = active.sum(-2).to(g.dtype) * math.sqrt(rho)  # [..., 1 or L]: the aligned gain K sqrt(rho)
        e_c = self.centroid_energy
        w = a * e_c / (a.square() * e_c + no.reshape(-1, *([1] * len(lead))))
        silent = (~active).flatten(1).sum(1).double()
        counts = {"silent": silent, "devices": torch.full_like(silent, float(active[0].numel()))}
        return self.demodulate((y * w).unsqueeze(-2)), counts

    @staticmethod
    def _gains(channel, count: int, like: torch.Tensor) -> torch.Tensor:
        """count coefficients of one device each (complex, as ``like``): the preset's flat-fading
        generator, or 1 (AWGN)."""
        from ..channel.flat import FlatFadingChannel

        if isinstance(channel, FlatFadingChannel):
            return channel._coefficients(count).reshape(count)
        return torch.ones(count, dtype=like.dtype, device=like.device)

    def rho(self, channel, like: torch.Tensor) -> float:
        """The common receive scaling of this channel: mean inversion energy 1 per device and use."""
        cached = self._rho.get(id(channel))
        if cached is None:
            g = self._gains(channel, RHO_SAMPLE, like).abs().double().square()
            mean_inverse = torch.where(g >= self.options.threshold, 1.0 / g, torch.zeros_like(g)).mean()
            rho = float(1.0 / mean_inverse) if mean_inverse > 0 else 0.0  # every device silent: nothing arrives
            cached = self._rho[id(channel)] = (channel, rho)  # the channel is kept so its id is not reused
        return cached[1]

    def _estimate(self, h: torch.Tensor, no_b: torch.Tensor) -> torch.Tensor:
        """The devices' LS estimates of block-fading h [S, ..., M, 1] from the broadcast pilots."""
        from ..channel.flat import FlatFadingChannel

        if self._estimator is None:
            self._estimator = FlatFadingChannel()
            self._estimator._setup(fading="block", num_rx_ant=1, csi="estimated", pilots=self.options.pilot_count,
                                   pilot_snr_offset_db=None, device=str(h.device), precision=_precision(h))
        # flat.py's layout: [..., 1 coefficient, N = 1 receive antenna]
        return self._estimator._ls_estimate(h.unsqueeze(-1), no_b).squeeze(-1)


def _precision(t: torch.Tensor) -> str:
    return "double" if t.dtype in (torch.float64, torch.complex128) else "single"
