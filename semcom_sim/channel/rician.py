from __future__ import annotations

import math

import torch

from . import CHANNELS
from .capacity import ergodic_delivery, rician_block_delivery
from .flat import FlatFadingChannel, is_real

K_FACTOR_DB = 50.0  # |K| accepted, in dB: beyond, the channel is Rayleigh or AWGN to float precision


@CHANNELS.register("rician")
class RicianChannel(FlatFadingChannel):
    """Flat Rician fading with Rician factor K (LoS to scattered power) on N receive antennas:
    h = sqrt(K/(K+1)) 1_N + sqrt(1/(K+1)) g, g ~ CN(0, I_N) from Sionna's flat-fading generator, so
    E|h_n|^2 = 1 for every K. The line-of-sight part arrives at broadside, in phase on every antenna.

    Options as Rayleigh's (``fading``, ``num_rx_ant``, ``csi``, ``pilots``, ``pilot_snr_offset_db``,
    flat.py) plus ``k_factor_db``: K -> -inf dB is Rayleigh fading, K -> +inf dB is AWGN.
    """

    @classmethod
    def check(cls, *, k_factor_db: float | None = None, **options) -> None:
        if not is_real(k_factor_db) or abs(k_factor_db) > K_FACTOR_DB:
            raise ValueError(f"k_factor_db must be a number in [-{K_FACTOR_DB:g}, {K_FACTOR_DB:g}] dB, "
                             f"got {k_factor_db!r}")
        super().check(**options)

    def __init__(self, *, k_factor_db: float, fading: str, num_rx_ant: int = 1, csi: str = "perfect",
                 pilots: int | None = None, pilot_snr_offset_db: float | None = None, device, precision: str):
        options = dict(fading=fading, num_rx_ant=num_rx_ant, csi=csi, pilots=pilots,
                       pilot_snr_offset_db=pilot_snr_offset_db)
        self.check(k_factor_db=k_factor_db, **options)
        self._setup(**options, device=device, precision=precision)
        self.k_factor = 10.0 ** (k_factor_db / 10.0)
        self.los, self.scatter = math.sqrt(self.k_factor / (self.k_factor + 1.0)), math.sqrt(1.0 / (self.k_factor + 1.0))

    def _coefficients(self, count: int) -> torch.Tensor:
        return super()._coefficients(count).mul_(self.scatter).add_(self.los)

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        # as Rayleigh's: outage for block fading, ergodic for fast; estimated CSI gets the perfect-CSI one
        if self.fading == "block":
            return rician_block_delivery(info_bits, channel_uses, snr, self.k_factor, self.num_rx_ant)
        return ergodic_delivery(info_bits, channel_uses, snr, self.num_rx_ant, self.k_factor)
