"""Capacity references (METHOD.md, physical limit): whether a capacity-achieving code carrying
``info_bits`` in ``channel_uses`` complex channel uses gets through, per SNR point.

With R = info_bits / channel_uses bits per channel use and snr = Es/N0 = 1/N0 [S] (linear, as the
run computes it once from the sweep's dB values). All in float64.
Written by hand: Sionna has no capacity or outage routines.
"""
from __future__ import annotations

import math

import torch


def awgn_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
    """1 if info_bits <= channel_uses * log2(1 + SNR), else 0."""
    return (info_bits <= channel_uses * torch.log2(1.0 + snr.double())).double()


def rayleigh_block_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
    """One h ~ CN(0, 1) per codeword, outage: P(log2(1 + |h|^2 SNR) >= R) = exp(-(2^R - 1) / SNR)."""
    return torch.exp(-(2.0 ** (info_bits / channel_uses) - 1.0) / snr.double())


def rayleigh_ergodic_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
    """One h per symbol, a long codeword averages the fades: 1 if R <= E[log2(1 + |h|^2 SNR)]
    = exp(1/SNR) E1(1/SNR) / ln 2, else 0."""
    from scipy.special import hyperu

    snr = snr.double()
    # U(1, 1, x) = e^x E1(x) (DLMF 6.11.2): exp(1/SNR) * exp1(1/SNR) overflows below -28.5 dB
    scaled_e1 = torch.from_numpy(hyperu(1.0, 1.0, (1.0 / snr).cpu().numpy())).to(snr.device)
    return (info_bits <= channel_uses * scaled_e1 / math.log(2.0)).double()
