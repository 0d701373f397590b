from __future__ import annotations

import torch

from . import CHANNELS
from .capacity import ergodic_delivery, rayleigh_block_delivery, rayleigh_ergodic_delivery
from .flat import FlatFadingChannel


@CHANNELS.register("rayleigh")
class RayleighChannel(FlatFadingChannel):
    """Flat Rayleigh fading, h ~ CN(0, I_N) on N receive antennas (default 1), linear MMSE equalisation.

    fading="block": one coefficient vector per transmitted vector (all its L symbols);
    fading="fast":  one per symbol. Receiver, estimated CSI and equaliser forms: flat.py.

    The single-stream closed form replaces Sionna's ``lmmse_equalizer``, because the general MIMO
    routine solves a linear system per symbol, 5-7x slower (benchmarks/bench_channel.py); tests
    check both agree. No tensor the size of the symbols is allocated beyond Sionna's output.
    """

    def __init__(self, *, fading: str, num_rx_ant: int = 1, csi: str = "perfect", pilots: int | None = None,
                 pilot_snr_offset_db: float | None = None, device, precision: str):
        options = dict(fading=fading, num_rx_ant=num_rx_ant, csi=csi, pilots=pilots,
                       pilot_snr_offset_db=pilot_snr_offset_db)
        self.check(**options)
        self._setup(**options, device=device, precision=precision)

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        # block: one fade per codeword (outage); fast: the codeword sees the ergodic capacity. Estimated
        # CSI gets the perfect-CSI reference: the limit the pilots and the estimate can only approach
        if self.fading == "block":
            return rayleigh_block_delivery(info_bits, channel_uses, snr, self.num_rx_ant)
        if self.num_rx_ant == 1:
            return rayleigh_ergodic_delivery(info_bits, channel_uses, snr)
        return ergodic_delivery(info_bits, channel_uses, snr, self.num_rx_ant)
