"""OFDM over a 3GPP TR 38.901 tapped-delay-line channel (TDL-A to TDL-E), one transmit and one
receive antenna, frequency-domain (no inter-symbol or inter-carrier interference: Sionna's
``OFDMChannel``).

Transmission. The symbols of each SNR point (all draws, instances and vectors, in that order) fill
the data resource elements of consecutive slots, a slot being one Sionna ``ResourceGrid`` of
``num_ofdm_symbols`` x ``fft_size`` elements mapped by ``ResourceGridMapper`` (data elements in
OFDM-symbol-major order, so a vector of L symbols sits on L neighbouring subcarriers of one or two
OFDM symbols); the last slot of each SNR point is padded with zeros, which are discarded. Packing
vectors densely keeps the memory at about the symbols' own (one slot per vector would multiply it by
the grid size over L, 27x for L = 32 on the default grid); a vector may straddle two slots, as a code
block does, and then sees two independent draws. Slots cross the channel in passes of at most
``SINUSOID_ELEMENTS_PER_PASS`` elements of the TDL generator's largest tensor, which bounds memory
whatever the number of symbols. Sionna's ``TDL`` draws one channel impulse response per slot
(sum of sinusoids, aged over the slot at ``speed_mps``); ``OFDMChannel`` turns it into one
coefficient per resource element (unit mean energy: the power-delay profile is normalised) and adds
CN(0, N0) noise, so SNR = Es/N0 = 1/N0 per resource element as for the flat models.

Receiver. ``csi: perfect`` equalises with the true coefficients. ``csi: estimated`` needs
``pilot_pattern: kronecker`` (Sionna's pilots, unit-energy QPSK on every subcarrier of the
``pilot_ofdm_symbol_indices`` symbols): LS estimates at the pilots, interpolated over the slot as
Sionna's ``LSChannelEstimator`` does (``interpolation``: ``lin``, linear in time with linear
extrapolation at the edges, or ``nn``, nearest pilot symbol). The interpolation weights are read
off Sionna's own interpolator once, at construction, and applied as a small [symbols x pilot
symbols] matrix: the same estimate (tests/channel/test_tdl.py compares them) without Sionna's
generic gather-based interpolation (155 ms per 2000 default slots, 2/3 of the bare channel's cost).
The error variance is the interpolated LS noise's own, N0 sum_p W_tp^2 / |p|^2 per OFDM symbol t;
Sionna interpolates the pilots' variances instead (N0 everywhere), which understates the
extrapolated edge symbols (1.54 N0 at symbol 0 with pilots on 2 and 11) and overstates the middle
ones (0.5 N0). Equalisation is Sionna's ``LMMSEEqualizer`` for
one stream in closed form, as in flat.py (the general routine solves a system per resource element:
530 ms per 2000 default slots, 2.2x the bare channel; tests check both agree): with h_hat the
coefficient used and N0' = N0 + its error variance,

- ``__call__``: x_u = h_hat* y / |h_hat|^2, no_eff = N0' / |h_hat|^2;
- ``mmse``: the linear MMSE estimate h_hat* y / (|h_hat|^2 + N0'), applied here (w = 1).

Channel uses: the link's own are the data elements. Pilots are reported per vector as the share of
the slot's pilot elements its L data elements take, L * pilots / data elements per slot (fractional).

Capacity reference: a capacity-achieving code over a vector's L data elements delivers if the mean
of log2(1 + SNR |H_k|^2) over them reaches R; the probability is estimated by Monte Carlo over
``CAPACITY_SLOTS`` TDL slots (perfect CSI, pilots not charged), drawn once per process and options
from a fixed seed (Sionna's generator is saved and restored, so the run's draws are unchanged) and
cut into consecutive windows of L elements, as the transmission packs them.
"""
from __future__ import annotations

import math

import torch

from . import CHANNELS
from .base import Channel
from .flat import is_int, is_real

TDL_MODELS = ("A", "B", "C", "D", "E")
NR_SUBCARRIER_SPACINGS_HZ = (15e3, 30e3, 60e3, 120e3, 240e3, 480e3, 960e3)  # 15 kHz * 2^mu, mu = 0..6
CARRIER_RANGE_HZ = (0.5e9, 100e9)  # where TR 38.901's scalable TDL profiles apply
MAX_DELAY_SPREAD_NS = 10_000.0
MAX_SPEED_MPS = 500.0
MAX_FFT_SIZE = 4096
MAX_OFDM_SYMBOLS = 140
DEFAULT_PILOT_SYMBOLS = (2, 11)
NUM_SINUSOIDS = 20  # Sionna's TDL default
# per pass, elements of the TDL generator's [slots, taps, OFDM symbols, sinusoids] phase tensor
SINUSOID_ELEMENTS_PER_PASS = 1 << 21
CAPACITY_SLOTS = 1024
CAPACITY_SEED = 38901
_capacity_gains_cache: dict[tuple, torch.Tensor] = {}


@CHANNELS.register("tdl")
class TDLChannel(Channel):
    """OFDM over 3GPP TDL fading (module docstring). Options and defaults: ``model`` C,
    ``delay_spread_ns`` 100 (TR 38.901's nominal), ``carrier_frequency_hz`` 3.5e9, ``speed_mps`` 3,
    ``fft_size`` 72 (six resource blocks), ``subcarrier_spacing_hz`` 30e3, ``num_ofdm_symbols`` 14 (one
    NR slot), ``pilot_pattern`` kronecker on ``pilot_ofdm_symbol_indices`` [2, 11] (or empty: no pilots,
    perfect CSI only), ``csi`` estimated, ``interpolation`` lin (estimated CSI only)."""

    @classmethod
    def check(cls, *, model: str = "C", delay_spread_ns: float = 100.0, carrier_frequency_hz: float = 3.5e9,
              speed_mps: float = 3.0, fft_size: int = 72, subcarrier_spacing_hz: float = 30e3,
              num_ofdm_symbols: int = 14, pilot_pattern: str = "kronecker", pilot_ofdm_symbol_indices=None,
              csi: str = "estimated", interpolation: str | None = None) -> None:
        if model not in TDL_MODELS:
            raise ValueError(f"model must be one of {', '.join(TDL_MODELS)} (TR 38.901 TDL), got {model!r}")
        if not is_real(delay_spread_ns) or not 0 <= delay_spread_ns <= MAX_DELAY_SPREAD_NS:
            raise ValueError(f"delay_spread_ns must be a number in [0, {MAX_DELAY_SPREAD_NS:g}], "
                             f"got {delay_spread_ns!r}")
        lo, hi = CARRIER_RANGE_HZ
        if not is_real(carrier_frequency_hz) or not lo <= carrier_frequency_hz <= hi:
            raise ValueError(f"carrier_frequency_hz must be a number in [{lo:g}, {hi:g}] (TR 38.901 TDL), "
                             f"got {carrier_frequency_hz!r}")
        if not is_real(speed_mps) or not 0 <= speed_mps <= MAX_SPEED_MPS:
            raise ValueError(f"speed_mps must be a number in [0, {MAX_SPEED_MPS:g}], got {speed_mps!r}")
        if not is_int(fft_size) or not 1 <= fft_size <= MAX_FFT_SIZE:
            raise ValueError(f"fft_size must be an integer in [1, {MAX_FFT_SIZE}], got {fft_size!r}")
        if not is_real(subcarrier_spacing_hz) or subcarrier_spacing_hz not in NR_SUBCARRIER_SPACINGS_HZ:
            raise ValueError("subcarrier_spacing_hz must be an NR numerology, one of "
                             f"{', '.join(f'{s:g}' for s in NR_SUBCARRIER_SPACINGS_HZ)}, "
                             f"got {subcarrier_spacing_hz!r}")
        if not is_int(num_ofdm_symbols) or not 1 <= num_ofdm_symbols <= MAX_OFDM_SYMBOLS:
            raise ValueError(f"num_ofdm_symbols must be an integer in [1, {MAX_OFDM_SYMBOLS}], "
                             f"got {num_ofdm_symbols!r}")
        if pilot_pattern not in ("kronecker", "empty"):
            raise ValueError(f"pilot_pattern must be 'kronecker' or 'empty', got {pilot_pattern!r}")
        if csi not in ("perfect", "estimated"):
            raise ValueError(f"csi must be 'perfect' or 'estimated', got {csi!r}")
        if interpolation is not None and interpolation not in ("lin", "nn"):
            raise ValueError(f"interpolation must be 'lin' or 'nn', got {interpolation!r}")
        if pilot_pattern == "empty":
            if pilot_ofdm_symbol_indices is not None:
                raise ValueError("pilot_ofdm_symbol_indices applies to pilot_pattern: kronecker only (it is 'empty')")
            if csi == "estimated":
                raise ValueError("csi: estimated needs pilot_pattern: kronecker (an empty pattern sends no pilots)")
        else:
            idx = DEFAULT_PILOT_SYMBOLS if pilot_ofdm_symbol_indices is None else pilot_ofdm_symbol_indices
            if (not isinstance(idx, (list, tuple)) or not idx or not all(is_int(i) for i in idx)
                    or len(set(idx)) != len(idx) or not all(0 <= i < num_ofdm_symbols for i in idx)
                    or len(idx) >= num_ofdm_symbols):
                raise ValueError("pilot_ofdm_symbol_indices must be a list of distinct integers in "
                                 f"[0, {num_ofdm_symbols - 1}] leaving at least one data OFDM symbol, got {idx!r}")
        if interpolation is not None and csi == "perfect":
            raise ValueError("interpolation applies to csi: estimated only (csi is 'perfect')")

    def __init__(self, *, model: str = "C", delay_spread_ns: float = 100.0, carrier_frequency_hz: float = 3.5e9,
                 speed_mps: float = 3.0, fft_size: int = 72, subcarrier_spacing_hz: float = 30e3,
                 num_ofdm_symbols: int = 14, pilot_pattern: str = "kronecker", pilot_ofdm_symbol_indices=None,
                 csi: str = "estimated", interpolation: str | None = None, device, precision: str):
        options = dict(model=model, delay_spread_ns=delay_spread_ns, carrier_frequency_hz=carrier_frequency_hz,
                       speed_mps=speed_mps, fft_size=fft_size, subcarrier_spacing_hz=subcarrier_spacing_hz,
                       num_ofdm_symbols=num_ofdm_symbols, pilot_pattern=pilot_pattern,
                       pilot_ofdm_symbol_indices=pilot_ofdm_symbol_indices, csi=csi, interpolation=interpolation)
        self.check(**options)
        from sionna.phy.channel import OFDMChannel
        from sionna.phy.channel.tr38901 import TDL
        from sionna.phy.ofdm import ResourceGrid, ResourceGridMapper

        kronecker = pilot_pattern == "kronecker"
        if kronecker and pilot_ofdm_symbol_indices is None:
            pilot_ofdm_symbol_indices = DEFAULT_PILOT_SYMBOLS
        self.csi = csi
        self._key = (tuple((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in options.items()
                           if k not in ("csi", "interpolation")), str(device), precision)
        self._rg = ResourceGrid(num_ofdm_symbols=num_ofdm_symbols, fft_size=fft_size,
                                subcarrier_spacing=float(subcarrier_spacing_hz), pilot_pattern=pilot_pattern,
                                pilot_ofdm_symbol_indices=list(pilot_ofdm_symbol_indices) if kronecker else None,
                                precision=precision, device=device)
        self._tdl = TDL(model, delay_spread_ns * 1e-9, float(carrier_frequency_hz), num_sinusoids=NUM_SINUSOIDS,
                        min_speed=float(speed_mps), max_speed=float(speed_mps), precision=precision, device=device)
        self._ofdm = OFDMChannel(self._tdl, self._rg, return_channel=True, precision=precision, device=device)
        self._mapper = ResourceGridMapper(self._rg, precision=precision, device=device)
        pilot_symbols = sorted(pilot_ofdm_symbol_indices) if kronecker else []
        dev = self._tdl.device
        # Kronecker pilots of one stream fill whole OFDM symbols: the data are the other symbols, every subcarrier
        self._data_symbols = torch.tensor([t for t in range(num_ofdm_symbols) if t not in pilot_symbols], device=dev)
        self.data_per_slot = self._rg.num_data_symbols
        self.pilots_per_slot = self._rg.num_pilot_symbols
        assert self.data_per_slot == len(self._data_symbols) * fft_size
        self._vector_len = 0  # L of the last call: the pilots' share per vector
        if csi == "estimated":
            self._setup_estimator(pilot_symbols, interpolation or "lin")
        self._slots_per_pass = max(1, SINUSOID_ELEMENTS_PER_PASS // (
            self._tdl.num_clusters * num_ofdm_symbols * NUM_SINUSOIDS))

    def _setup_estimator(self, pilot_symbols: list[int], interpolation: str) -> None:
        """LS at the pilots times conj(p)/|p|^2, then interpolation weights W [data symbols, pilot
        symbols] read off Sionna's interpolator (linear in its input: one pilot symbol of ones at a time)."""
        from sionna.phy.ofdm import LinearInterpolator, NearestNeighborInterpolator

        pattern = self._rg.pilot_pattern
        n_p, fft = len(pilot_symbols), self._rg.fft_size
        pilots = pattern.pilots.reshape(n_p, fft)  # pilots follow the mask's nonzero positions, symbol-major
        self._pilot_symbols = torch.tensor(pilot_symbols, device=pilots.device)
        self._pilot_factor = pilots.conj() / pilots.abs().square()  # LS: h_p = y_p conj(p) / |p|^2
        interpolator = (LinearInterpolator if interpolation == "lin" else NearestNeighborInterpolator)(
            pattern, precision=self._rg.precision, device=self._rg.device)
        basis = torch.eye(n_p, dtype=pilots.dtype, device=pilots.device).repeat_interleave(fft, dim=1)
        h, _ = interpolator(basis.reshape(n_p, 1, 1, 1, 1, n_p * fft), torch.ones(n_p, 1, 1, 1, 1, n_p * fft,
                                                                                  device=pilots.device))
        w = h.reshape(n_p, self._rg.num_ofdm_symbols, fft)[:, :, 0].real.T  # [symbols, pilot symbols]
        w = w.index_select(0, self._data_symbols)
        self._weights = w.to(pilots.dtype)
        # error variance of the interpolated LS noise per unit N0, at every data element [data symbols, fft]
        self._error_factor = (w.square() @ (1.0 / pilots.abs().square())).reshape(-1)

    @property
    def pilot_uses_per_vector(self) -> float:  # type: ignore[override]
        return self._vector_len * self.pilots_per_slot / self.data_per_slot

    def _receive(self, x: torch.Tensor, no: torch.Tensor, form: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x [S, ..., V, L] through the OFDM chain; form "call": (x_u, no_eff), form "mmse": (estimate, w = 1)."""
        s, m, d = x.shape[0], x[0].numel(), self.data_per_slot
        self._vector_len = x.shape[-1]
        per_point = max(1, math.ceil(m / d))  # slots per SNR point
        grid = x.new_zeros(s, per_point * d)
        grid[:, :m].unflatten(1, x.shape[1:]).copy_(x)  # one copy, from x's (possibly expanded) view
        grid = grid.view(s * per_point, d)
        no_slot = no.to(self._tdl.dtype).repeat_interleave(per_point)
        # out= writes into preallocated outputs save a copy per pass but carry no gradient, so a
        # payload that needs one (fine-tuning through the channel) takes the out-of-place path
        track = torch.is_grad_enabled() and x.requires_grad
        first = None if track else torch.empty_like(grid)
        second = torch.empty(grid.shape, dtype=no_slot.dtype, device=grid.device) if form == "call" else None
        parts = []
        for i in range(0, grid.shape[0], self._slots_per_pass):
            j = min(i + self._slots_per_pass, grid.shape[0])
            y, h_hat, no_rx = self._slot_pass(grid[i:j], no_slot[i:j])
            energy = h_hat.real.square() + h_hat.imag.square()
            if form == "call":
                torch.div(no_rx, energy, out=second[i:j])
            else:
                energy = energy.add_(no_rx)
            if track:
                parts.append(y * h_hat.conj() / energy)
            else:
                torch.mul(y, h_hat.conj(), out=first[i:j]).div_(energy)
        if track:
            first = torch.cat(parts)
        first = first.view(s, -1)[:, :m].unflatten(1, x.shape[1:])
        if form == "call":
            return first, second.view(s, -1)[:, :m].unflatten(1, x.shape[1:])
        return first, torch.ones((), dtype=no_slot.dtype, device=first.device)

    def _slot_pass(self, data: torch.Tensor, no: torch.Tensor):
        """data [B, D] on B slots -> y, the coefficient the receiver uses, and N0' (broadcastable), [B, D]."""
        b, fft = data.shape[0], self._rg.fft_size
        y, h = self._ofdm(self._mapper(data.reshape(b, 1, 1, -1)), no)  # [B, 1, 1, T, F], [B, 1, 1, 1, 1, T, F]
        y = y.reshape(b, -1, fft)
        y_data = y.index_select(1, self._data_symbols).reshape(b, -1)
        no_b = no.unsqueeze(-1)
        if self.csi == "perfect":
            return y_data, h.reshape(b, -1, fft).index_select(1, self._data_symbols).reshape(b, -1), no_b
        h_p = y.index_select(1, self._pilot_symbols).mul_(self._pilot_factor)  # LS at the pilots [B, P, F]
        h_hat = torch.matmul(self._weights, h_p).reshape(b, -1)  # interpolated to the data symbols
        return y_data, h_hat, no_b * (1.0 + self._error_factor)

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._receive(x, no, "call")

    def mmse(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._receive(x, no, "mmse")

    def _capacity_gains(self) -> torch.Tensor:
        """|H|^2 [CAPACITY_SLOTS * D] (float64) on the data elements of CAPACITY_SLOTS slots, in packing order."""
        gains = _capacity_gains_cache.get(self._key)
        if gains is None:
            from sionna.phy import config

            rng = config.torch_rng(self._tdl.device)
            state = rng.get_state()
            rng.manual_seed(CAPACITY_SEED)
            try:
                parts = []
                for i in range(0, CAPACITY_SLOTS, self._slots_per_pass):
                    b = min(self._slots_per_pass, CAPACITY_SLOTS - i)
                    h = self._ofdm.generate(b).reshape(b, -1, self._rg.fft_size).index_select(1, self._data_symbols)
                    parts.append(h.abs().square().double().reshape(-1))
            finally:
                rng.set_state(state)
            gains = _capacity_gains_cache[self._key] = torch.cat(parts)
        return gains

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        gains = self._capacity_gains().to(snr.device)
        windows = gains.numel() // channel_uses
        if windows == 0:  # a codeword longer than all the draws: the ergodic mean
            g = gains.unsqueeze(0)
        else:
            g = gains[: windows * channel_uses].reshape(windows, channel_uses)
        rate = info_bits / channel_uses
        return torch.stack([(torch.log2(1.0 + float(v) * g).mean(-1) >= rate).double().mean()
                            for v in snr.double().cpu()]).to(snr.device)
