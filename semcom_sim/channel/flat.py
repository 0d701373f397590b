"""Flat fading with one transmit and N receive antennas, shared by the Rayleigh and Rician models.

Per coefficient (one per vector for block fading, one per symbol for fast fading) the channel is a
vector h [N] ~ CN(0, I_N) (the Rician model adds its line-of-sight part), applied as Sionna's
``ApplyFlatFadingChannel`` does with the noise of its ``AWGN`` (drawn as ``base.add_noise`` does):
y = h x + n, n ~ CN(0, N0 I_N).
Block fading draws h with Sionna's ``GenerateFlatFadingChannel(1, N)``. Fast fading draws as many
coefficients as symbols, where the generator's three passes (real parts, imaginary parts, then
interleaving them) cost half an apply call: it draws the same distribution from the same seeded
generator in one pass over the interleaved real and imaginary parts. With one transmit antenna
the product h x is elementwise; ``ApplyFlatFadingChannel`` computes it as a batched product of
N x 1 matrices, 2x slower and equal to the last bit for one receive antenna
(benchmarks/bench_channel.py).

The receiver equalises with what it knows of h, the coefficients themselves (``csi: perfect``) or
their least-squares estimate from ``pilots`` known symbols of energy Es_p = 10^(offset/10) sent
through the same h before the vector (``csi: estimated``, block fading only): h_hat = h + e,
e ~ CN(0, N0 / (pilots Es_p) I_N). As Sionna's ``LMMSEEqualizer`` does with ``LSChannelEstimator``'s
error variance, the estimation error is treated as extra noise: the receiver equalises with h_hat
and the noise variance N0 + sigma_e^2 (symbols of unit energy).

Equalisation is Sionna's ``lmmse_equalizer`` for one stream, in closed form (maximum-ratio
combining; the general routine solves an N x N system per symbol, see rayleigh.py), with
g = ||h_hat||^2 and N0' = N0 + sigma_e^2:

- ``__call__`` (digital link): x_u = h_hat^H y / g, no_eff = N0' / g;
- ``mmse`` (analog link): the linear MMSE estimate h_hat^H y / (g + N0') as (y, w). Block fading
  keeps w per vector for the receiver to fold into its own pass: with one antenna y as received and
  w = h_hat* / (g + N0'), with several the combined h_hat^H y and w = 1 / (g + N0'). Fast fading
  applies w in place and returns w = 1.
"""
from __future__ import annotations

import math
import numbers

import torch

from .base import Channel, add_noise, gaussian_, scratch

MAX_RX_ANTENNAS = 64
MAX_PILOTS = 1024
PILOT_OFFSET_DB = 30.0  # |pilot power boost| accepted, in dB


class FlatFadingChannel(Channel):
    """Options shared by the flat-fading models: ``fading`` (block | fast), ``num_rx_ant`` (N >= 1),
    ``csi`` (perfect | estimated), ``pilots`` and ``pilot_snr_offset_db`` (estimated CSI only)."""

    @classmethod
    def check(cls, *, fading: str = "", num_rx_ant: int = 1, csi: str = "perfect", pilots: int | None = None,
              pilot_snr_offset_db: float | None = None, **_) -> None:
        if fading not in ("block", "fast"):
            raise ValueError(f"fading must be 'block' or 'fast', got {fading!r}")
        if not is_int(num_rx_ant) or not 1 <= num_rx_ant <= MAX_RX_ANTENNAS:
            raise ValueError(f"num_rx_ant must be an integer in [1, {MAX_RX_ANTENNAS}], got {num_rx_ant!r}")
        if csi not in ("perfect", "estimated"):
            raise ValueError(f"csi must be 'perfect' or 'estimated', got {csi!r}")
        if csi == "perfect":
            for name, value in (("pilots", pilots), ("pilot_snr_offset_db", pilot_snr_offset_db)):
                if value is not None:
                    raise ValueError(f"{name} applies to csi: estimated only (csi is 'perfect')")
            return
        if fading == "fast":
            raise ValueError("csi: estimated needs fading: block (under fast fading every symbol has its own "
                             "coefficient, which pilots sent at other times cannot estimate)")
        if not is_int(pilots) or not 1 <= pilots <= MAX_PILOTS:
            raise ValueError(f"pilots must be an integer in [1, {MAX_PILOTS}] with csi: estimated, got {pilots!r}")
        if pilot_snr_offset_db is not None and not (
                is_real(pilot_snr_offset_db) and abs(pilot_snr_offset_db) <= PILOT_OFFSET_DB):
            raise ValueError(f"pilot_snr_offset_db must be a number in [-{PILOT_OFFSET_DB:g}, {PILOT_OFFSET_DB:g}] "
                             f"dB, got {pilot_snr_offset_db!r}")

    @classmethod
    def one_sinr_per_block(cls, *, fading: str = "", **_) -> bool:
        return fading == "block"  # the equaliser's SINR is |h|^2 / N0 (or its estimate's): one per h

    @classmethod
    def iid_sinr_per_symbol(cls, *, fading: str = "", **_) -> bool:
        return fading == "fast"  # a coefficient per symbol, drawn independently (perfect CSI only)

    def _setup(self, *, fading: str, num_rx_ant: int, csi: str, pilots: int | None,
               pilot_snr_offset_db: float | None, device, precision: str) -> None:
        from sionna.phy.channel import GenerateFlatFadingChannel

        self.options = {"fading": fading, "num_rx_ant": num_rx_ant, "csi": csi, "pilots": pilots,
                        "pilot_snr_offset_db": pilot_snr_offset_db}

        self.fading, self.num_rx_ant, self.csi = fading, num_rx_ant, csi
        self.pilots = pilots or 0
        self.pilot_energy = 10.0 ** ((pilot_snr_offset_db or 0.0) / 10.0)
        self.pilot_uses_per_vector = self.pilots
        self._gen = GenerateFlatFadingChannel(1, num_rx_ant, precision=precision, device=device)

    @property
    def estimation_error_factor(self) -> float:
        """sigma_e^2 / N0 of the LS estimate: 1 / (pilots Es_p); 0 with perfect CSI."""
        return 1.0 / (self.pilots * self.pilot_energy) if self.pilots else 0.0

    def _coefficients(self, count: int) -> torch.Tensor:
        """count channel vectors h ~ CN(0, I_N), [count, N] (see the module doc for the two draws)."""
        if self.fading == "block":
            return self._gen(count).squeeze(-1)  # Sionna's layout [count, N receive, 1 transmit]
        parts = scratch((count, self.num_rx_ant, 2), self._gen.dtype, self._gen.device)
        return torch.view_as_complex(gaussian_(parts, math.sqrt(0.5), self._gen.torch_rng))

    def _through(self, x: torch.Tensor, h: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """y = h x + n [..., L, N] for symbols x [..., L], h [..., 1 or L, N] and N0 of y's rank."""
        return add_noise(x.unsqueeze(-1), no, h)

    def _fade(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> y [..., L, N], h [..., 1 (block) or L (fast), N], N0 [S, 1, ..., 1] of x's rank."""
        lead = (*x.shape[:-1], 1) if self.fading == "block" else x.shape
        h = self._coefficients(math.prod(lead)).reshape(*lead, self.num_rx_ant)
        no_b = self._per_snr(no, x.dim())
        return self._through(x, h, no_b.unsqueeze(-1)), h, no_b

    def _receive(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> y [..., L, N], the h the receiver equalises with, and the noise variance it assumes."""
        y, h, no_b = self._fade(x, no)
        if self.csi == "perfect":
            return y, h, no_b
        return y, self._ls_estimate(h, no_b), no_b * (1.0 + self.estimation_error_factor)

    def _ls_estimate(self, h: torch.Tensor, no_b: torch.Tensor) -> torch.Tensor:
        """LS estimate [..., 1, N] of block-fading h [..., 1, N] from the pilots sent through it (Sionna's
        ``LSChannelEstimator`` needs an OFDM resource grid): the mean of y_p / p over the pilots."""
        p = math.sqrt(self.pilot_energy)
        x_p = torch.full((*h.shape[:-2], self.pilots), p, dtype=h.dtype, device=h.device)
        y_p = self._through(x_p, h, no_b.unsqueeze(-1))  # [..., pilots, N]
        return y_p.mean(-2, keepdim=True).div_(p)

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h, no_b = self._receive(x, no)
        if self.num_rx_ant == 1:  # nothing to combine: y / h is h* y / |h|^2 in one division
            h = h.squeeze(-1)
            return y.squeeze(-1) / h, no_b / h.abs().square()
        g = _energy(h)
        return torch.linalg.vecdot(h, y).div_(g), no_b / g  # vecdot(h, y) = h^H y: maximum-ratio combining

    def sinr(self, shape: tuple[int, ...], no: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """With perfect CSI the equalised SINR is ||h||^2 / N0: only the coefficients are drawn (no
        noise, no symbols); estimated CSI's also depends on the pilots' noise (the generic form)."""
        if self.csi != "perfect":
            return super().sinr(shape, no, dtype)
        lead = (*shape[:-1], 1) if self.fading == "block" else tuple(shape)
        h = self._coefficients(math.prod(lead)).reshape(*lead, self.num_rx_ant)
        return _energy(h).to(torch.float64).div_(self._per_snr(no.to(torch.float64), len(lead)))

    def mmse(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h, no_b = self._receive(x, no)
        track = torch.is_grad_enabled() and x.requires_grad  # in place would overwrite what backward needs
        # den = ||h||^2 + N0 (+ the estimation error)
        if self.num_rx_ant == 1:  # h* / den folds into the receiver's pass: no combining pass
            y, h = y.squeeze(-1), h.squeeze(-1)
            hv = torch.view_as_real(h)  # fused multiply-adds on views: one allocation the size of h
            den = torch.addcmul(no_b, hv[..., 0], hv[..., 0]).addcmul_(hv[..., 1], hv[..., 1])
            # h is ours (fresh): overwritten, unless backward still needs it (a payload with a gradient)
            coeff = h.conj_physical() if track else h.conj_physical_()
        else:
            den, y, coeff = _energy(h).add_(no_b), torch.linalg.vecdot(h, y), None
        if self.fading == "block":  # one weight per vector: the receiver folds it into its own pass
            return y, (1.0 / den if coeff is None else _div_(coeff, den))
        if track:
            return (y if coeff is None else y * coeff) / den, torch.ones((), dtype=den.dtype, device=den.device)
        # one weight per symbol: applied here, in place, instead of in a second pass the size of y
        if coeff is not None:
            y.mul_(coeff)
        return _div_(y, den), torch.ones((), dtype=den.dtype, device=den.device)


def _energy(h: torch.Tensor) -> torch.Tensor:
    """||h||^2 over the receive antennas (the last dimension), real."""
    return torch.view_as_real(h).square().sum((-2, -1))


def _div_(z: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """Complex z [...] divided in place by real den [...] (broadcastable); returns z."""
    torch.view_as_real(z).div_(den.unsqueeze(-1))
    return z


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
