from __future__ import annotations

import torch


class Channel:
    """x: complex [S, ..., V, L] symbols (S SNR points first, V vectors of L channel uses),
    no: float [S] noise variance per complex symbol.

    Returns (x_u, no_eff) in Sionna's convention: the unbiased equalised estimate x_u = x + e,
    shape of x, and the variance of e, broadcastable to x (what a demapper needs).
    """

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @staticmethod
    def _per_snr(no: torch.Tensor, rank: int) -> torch.Tensor:
        return no.reshape(-1, *([1] * (rank - 1)))


def mmse_gain(no_eff: torch.Tensor) -> torch.Tensor:
    """Factor turning an unbiased estimate of a unit-energy symbol into its linear MMSE estimate.

    x_mmse = x_u / (1 + no_eff); for flat fading this equals h* y / (|h|^2 + N0): deep fades are
    shrunk towards zero instead of having their noise amplified, which is what an analog receiver
    wants. Returned separately so the receiver can fold it into one pass over the symbols.
    """
    return 1.0 / (1.0 + no_eff)
