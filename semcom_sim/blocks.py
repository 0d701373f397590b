"""The public block API: the pieces of a run that a researcher composes in their own PyTorch code.

Everything a run does is built from these names; they are promised to stay importable from here
with the documented shapes. Everything else in the package stays importable but is not promised.

Shape convention: an instance's embeddings are ``{modality: [N, D]}`` (unit-norm rows); a scheme
turns them into a real payload ``[N, V, T]`` (V vectors of T coordinates kept by RFS); a link turns
a payload into complex channel symbols ``[N, V, L]``; a channel takes symbols with the SNR points
first, ``[S, ..., V, L]``, and a noise variance per SNR point ``no`` ``[S]``; what comes back from a
link's ``receive`` is ``[S, r, N, V, T]`` for r channel draws. Real tensors are float32 or float64
(a channel's ``dtype``), symbols the matching complex dtype.

>>> import torch
>>> from semcom_sim import blocks
>>> z = {"image": torch.nn.functional.normalize(torch.randn(8, 16), dim=-1),
...      "text": torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)}
>>> payload = blocks.centroid(z).unsqueeze(1)               # [N, V=1, T=D]
>>> link = blocks.Analog.fit(payload)
>>> channel = blocks.channel_from_preset("awgn")
>>> snr = blocks.SnrPoints.of([0.0, 10.0], torch.float32, "cpu")
>>> link.receive(channel, link.send(payload), snr.no, draws=3)[0].shape
torch.Size([2, 3, 8, 1, 16])
"""
from __future__ import annotations

from pathlib import Path

import torch

from .channel import Channel, SnrPoints, build_channel, snr_db_to_noise_var
from .latent import (cross_modal_retrieval, explained_variance, fisher_ratio, latent_summary, modality_gap,
                     pairwise_gaps, true_pair_cosine, uniformity)
from .links import Link, monte_carlo
from .links.analog import Analog, AnalogOptions
from .links.digital import Digital, DigitalOptions
from .receiver.heads import LinearHead, fit_linear_head, score, topk_accuracy
from .runtime import SIONNA_PRECISION
from .scenario import list_presets, load_channel_preset
from .training.losses import atp_loss, cu_loss, info_nce, multimodal_info_nce, pairwise_alignment_loss, total_loss
from .transmitter.payload import rfs_indices
from .transmitter.schemes import Scheme, centroid, get_scheme


def channel_from_preset(preset: str | Path, dtype: torch.dtype = torch.float32, device: str = "cpu") -> Channel:
    """The channel of a preset, by name (``awgn``, ``rayleigh_block``, ... :func:`list_presets`) or
    path to a preset YAML file, built for real ``dtype`` (float32 or float64; its symbols are then
    complex64 or complex128) on ``device``.

    Calling it, ``channel(x, no)``, takes symbols x complex ``[S, ..., V, L]`` and noise variances
    no real ``[S]`` (one per SNR point, see :class:`SnrPoints`) and returns ``(x_u, no_eff)``: the
    unbiased equalised estimate, shape of x, and its error variance, broadcastable to x. Gradients
    flow back into x through the analog receiver's path (``channel.mmse``) of every preset
    (tests/channel/test_gradient.py).

    >>> import torch
    >>> ch = channel_from_preset("rayleigh_block")
    >>> x = torch.ones(2, 4, 1, 8, dtype=torch.complex64)   # [S=2, N=4, V=1, L=8]
    >>> no = torch.tensor([1.0, 0.1])
    >>> x_u, no_eff = ch(x, no)
    >>> x_u.shape, x_u.dtype
    (torch.Size([2, 4, 1, 8]), torch.complex64)
    """
    spec = load_channel_preset(str(preset))
    return build_channel(spec, device, SIONNA_PRECISION[dtype])


__all__ = [
    # schemes and RFS
    "centroid", "get_scheme", "Scheme", "rfs_indices",
    # links
    "Link", "Analog", "AnalogOptions", "Digital", "DigitalOptions", "monte_carlo",
    # channels and SNR points
    "channel_from_preset", "list_presets", "Channel", "SnrPoints", "snr_db_to_noise_var",
    # latent measures
    "modality_gap", "pairwise_gaps", "fisher_ratio", "explained_variance", "cross_modal_retrieval",
    "true_pair_cosine", "uniformity", "latent_summary",
    # losses
    "info_nce", "multimodal_info_nce", "atp_loss", "pairwise_alignment_loss", "cu_loss", "total_loss",
    # receiver head
    "fit_linear_head", "LinearHead", "topk_accuracy", "score",
]
