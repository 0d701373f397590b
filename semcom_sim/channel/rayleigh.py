from __future__ import annotations

import math

import torch

from . import CHANNELS
from .base import Channel
from .capacity import rayleigh_block_delivery, rayleigh_ergodic_delivery


@CHANNELS.register("rayleigh")
class RayleighChannel(Channel):
    """Flat SISO Rayleigh fading, h ~ CN(0, 1), perfect CSI at the receiver.

    fading="block": one coefficient per transmitted vector (all its L symbols);
    fading="fast":  one coefficient per symbol.

    Sionna draws the coefficients (``GenerateFlatFadingChannel``) and applies them with the noise
    (``ApplyFlatFadingChannel``). Equalisation is the single-stream case of Sionna's
    ``lmmse_equalizer`` in closed form, because the general MIMO routine solves a 1x1 linear system
    per symbol, 5-7x slower (benchmarks/bench_channel.py); tests check both agree:

    - ``__call__`` (digital link, for the demapper): x_u = y / h, no_eff = N0 / |h|^2;
    - ``mmse`` (analog link): the linear MMSE estimate h* y / (|h|^2 + N0) = x_u / (1 + no_eff) as
      (y, w): block fading returns y and w = h* / (|h|^2 + N0), one weight per vector, for the
      receiver to fold into its own pass; fast fading applies w in place and returns w = 1. No tensor
      the size of the symbols is allocated beyond Sionna's output.
    """

    @classmethod
    def check(cls, *, fading: str = "", **_) -> None:
        if fading not in ("block", "fast"):
            raise ValueError(f"fading must be 'block' or 'fast', got {fading!r}")

    def __init__(self, *, fading: str, device, precision: str):
        from sionna.phy.channel import ApplyFlatFadingChannel, GenerateFlatFadingChannel

        self.check(fading=fading)
        self.fading = fading
        self._gen = GenerateFlatFadingChannel(1, 1, precision=precision, device=device)
        self._apply = ApplyFlatFadingChannel(precision=precision, device=device)

    def _fade(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> y [..., L], h [..., 1] (block) or [..., L] (fast), N0 [S, 1, ..., 1] of x's rank."""
        lead = x.shape[:-1] if self.fading == "block" else x.shape
        h = self._gen(math.prod(lead)).reshape(*lead, *([1] if self.fading == "block" else []))
        no_b = self._per_snr(no, x.dim())
        # Sionna's matrix form: x [..., L, K=1], h [..., 1 or L, M=1, K=1]
        y = self._apply(x.unsqueeze(-1), h[..., None, None], no_b.unsqueeze(-1))
        return y.squeeze(-1), h, no_b

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h, no_b = self._fade(x, no)
        return y / h, no_b / h.abs().square()

    def mmse(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, h, no_b = self._fade(x, no)
        hv = torch.view_as_real(h)  # [..., 2]; h is ours (fresh from the generator): overwritten
        den = torch.addcmul(no_b, hv[..., 0], hv[..., 0]).addcmul_(hv[..., 1], hv[..., 1])  # |h|^2 + N0
        hv[..., 1].neg_()  # h -> h*
        if self.fading == "block":  # one weight per vector: the receiver folds it into its own pass
            return y, _div_(h, den)
        # one weight per symbol: applied here, in place, instead of in a second pass the size of y
        return _div_(y.mul_(h), den), torch.ones((), dtype=den.dtype, device=den.device)

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
        # block: one fade per codeword (outage); fast: the codeword sees the ergodic capacity
        fn = rayleigh_block_delivery if self.fading == "block" else rayleigh_ergodic_delivery
        return fn(info_bits, channel_uses, snr)


def _div_(z: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """Complex z [...] divided in place by real den [...] (broadcastable); returns z."""
    torch.view_as_real(z).div_(den.unsqueeze(-1))
    return z
