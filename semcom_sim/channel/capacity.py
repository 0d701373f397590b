"""Capacity references (docs/method.md, section 'The physical limit'): whether a
capacity-achieving code carrying ``info_bits`` in ``channel_uses`` complex channel uses gets
through, per SNR point.

With R = info_bits / channel_uses bits per channel use and snr = Es/N0 = 1/N0 [S] (linear, as the
run computes it once from its SNR points in dB). All in float64.
Written by hand: Sionna has no capacity or outage routines.

Flat fading on N receive antennas with maximum-ratio combining (the LMMSE receiver for one stream)
sees the SNR G * SNR, G = ||h||^2. Rayleigh: G ~ Gamma(N, 1) (a chi-square with 2N degrees of
freedom, halved). Rician with factor K and the line-of-sight part in phase on every antenna:
2(K+1) G is a noncentral chi-square with 2N degrees of freedom and noncentrality 2NK.
"""
from __future__ import annotations

import math

import torch


def awgn_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
    """1 if info_bits <= channel_uses * log2(1 + SNR), else 0."""
    return (info_bits <= channel_uses * torch.log2(1.0 + snr.double())).double()


def rayleigh_block_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor, num_rx_ant: int = 1) -> torch.Tensor:
    """One h ~ CN(0, I_N) per codeword, outage: P(log2(1 + G SNR) >= R) = Q(N, (2^R - 1) / SNR), the
    regularised upper incomplete gamma function; N = 1: exp(-(2^R - 1) / SNR)."""
    threshold = (2.0 ** (info_bits / channel_uses) - 1.0) / snr.double()
    return torch.special.gammaincc(torch.tensor(float(num_rx_ant), dtype=torch.float64, device=snr.device), threshold)


def rician_block_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor, k_factor: float,
                          num_rx_ant: int = 1) -> torch.Tensor:
    """One Rician h per codeword, outage: P(G >= (2^R - 1) / SNR), the noncentral chi-square's tail
    (a generalised Marcum Q function) at 2(K+1)(2^R - 1) / SNR."""
    from scipy.stats import ncx2

    threshold = 2.0 * (k_factor + 1.0) * (2.0 ** (info_bits / channel_uses) - 1.0) / snr.double()
    p = ncx2.sf(threshold.cpu().numpy(), 2 * num_rx_ant, 2 * num_rx_ant * k_factor)
    return torch.from_numpy(p).to(snr.device)


def rayleigh_ergodic_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor) -> torch.Tensor:
    """One h per symbol, a long codeword averages the fades: 1 if R <= E[log2(1 + |h|^2 SNR)]
    = exp(1/SNR) E1(1/SNR) / ln 2, else 0."""
    from scipy.special import hyperu

    snr = snr.double()
    # U(1, 1, x) = e^x E1(x) (DLMF 6.11.2): exp(1/SNR) * exp1(1/SNR) overflows below -28.5 dB
    scaled_e1 = torch.from_numpy(hyperu(1.0, 1.0, (1.0 / snr).cpu().numpy())).to(snr.device)
    return (info_bits <= channel_uses * scaled_e1 / math.log(2.0)).double()


def ergodic_delivery(info_bits: int, channel_uses: int, snr: torch.Tensor, num_rx_ant: int = 1,
                     k_factor: float = 0.0) -> torch.Tensor:
    """Fast fading on N antennas, Rayleigh (K = 0) or Rician: 1 if R <= E[log2(1 + G SNR)], by
    numerical integration over the law of G (scipy's adaptive quadrature, about 1e-10 absolute)."""
    from scipy.integrate import quad
    from scipy.stats import chi2, ncx2

    dof, scale = 2 * num_rx_ant, 2.0 * (k_factor + 1.0)  # V = 2(K+1) G ~ law below
    law = ncx2(dof, dof * k_factor) if k_factor > 0 else chi2(dof)
    # the integrand is negligible outside these quantiles; the mean splits the interval where a large
    # K concentrates the law, which quadrature over [0, inf) would step over
    lo, hi, mean = law.ppf(1e-15), law.isf(1e-15), law.mean()
    capacity = [quad(lambda v, s=float(s): math.log2(1.0 + s * v / scale) * law.pdf(v), lo, hi, points=[mean],
                     limit=200, epsabs=1e-10)[0] for s in snr.double().cpu().tolist()]
    return (info_bits <= channel_uses * torch.tensor(capacity, dtype=torch.float64, device=snr.device)).double()
