from __future__ import annotations

import torch


class Channel:
    """x: complex [S, ..., V, L] symbols (S SNR points first, V vectors of L channel uses),
    no: float [S] noise variance per complex symbol.

    ``__call__`` returns (x_u, no_eff) in Sionna's convention: the unbiased equalised estimate
    x_u = x + e, shape of x, and the variance of e, broadcastable to x (what a demapper needs).

    ``mmse`` returns (y, w) for an analog receiver: y, shape of x, and a weight w broadcastable to
    y such that w * y is the linear MMSE estimate of each unit-energy symbol. A channel keeps w as
    coarse as it can (one per SNR point for AWGN, one per vector for block fading), so that the
    receiver folds w and its own scaling into one pass over the symbols; where w varies per symbol
    the channel may apply it itself and return y = the estimate, w = 1.

    Build one by preset name with :func:`semcom_sim.blocks.channel_from_preset`:

    >>> import torch
    >>> from semcom_sim.blocks import channel_from_preset
    >>> ch = channel_from_preset("awgn", torch.float64)
    >>> x = torch.ones(1, 100_000, dtype=torch.complex128)   # [S=1, L]
    >>> x_u, no_eff = ch(x, torch.tensor([0.5], dtype=torch.float64))
    >>> round(float((x_u - x).abs().square().mean()), 1)     # the noise variance N0
    0.5
    """

    # channel uses a model spends per transmitted vector besides the link's own (pilots for channel
    # estimation): monte_carlo reports them as results.csv's ``pilot_uses``, outside ``channel_uses``
    pilot_uses_per_vector: int = 0

    @classmethod
    def check(cls, **options) -> None:
        """Raise ValueError for option values the model refuses, without building it (no Sionna
        import): ``validate`` and the scenario checks call it on every preset."""

    def __call__(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def delivery_probability(self, info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor | None:
        """Probability [S] that a capacity-achieving code delivers ``info_bits`` in ``channel_uses``
        uses of this channel at each linear SNR = 1/N0 [S] (float64): the physical limit every link is drawn against.

        Every model must say: there is deliberately no default, so a new model cannot silently
        inherit another's limit. Return None where no reference is known (its column stays empty).
        """
        raise NotImplementedError(f"{type(self).__name__} must define delivery_probability "
                                  "(return None where no capacity reference is known)")

    def mmse(self, x: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generic form, from ``__call__``: y = x_u, w = 1 / (1 + no_eff); channels override it."""
        x_u, no_eff = self(x, no)
        return x_u, mmse_gain(no_eff)

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
