"""Training payloads for a noise-aware receiver: the clean training payloads, ``train_draws`` copies
of each, sent through the training channel at a training SNR drawn per copy.

What every JSCC code base does (DeepJSCC, WITT, SwinJSCC train at an SNR or over a range and test
over a range of SNR points); here the encoders stay as trained and only the receiver's heads and decoders see
the noise. The SNR draws come from their own numpy stream and the channel's noise from its own
Sionna stream, so switching it on moves neither the encoders nor the test channel's noise.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..channel import SnrPoints
from ..links import by_link
from ..scenario import TrainSnrRange

# channel symbols per chunk of training instances: bounds the digital demapper's memory
SYMBOLS_PER_CHUNK = 1 << 20


def describe(spec) -> str:
    """results.csv ``rx_train`` of a training SNR spec: ``clean``, ``0 dB``, ``0/10 dB``, ``-5..25 dB``."""
    if spec is None:
        return "clean"
    if isinstance(spec, TrainSnrRange):
        return f"{spec.start:g}..{spec.stop:g} dB"
    values = [spec] if isinstance(spec, float) else list(spec)
    return "/".join(f"{v:g}" for v in values) + " dB"


def draw_snr_db(spec, n: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [n]: one training SNR per example, in dB."""
    if isinstance(spec, TrainSnrRange):
        return rng.uniform(spec.start, spec.stop, size=n)
    values = np.atleast_1d(np.asarray(spec, dtype=np.float64))
    return values[rng.integers(0, len(values), size=n)] if len(values) > 1 else np.full(n, values[0])


def noisy_copies(link, payload: torch.Tensor, channel, snr_db: np.ndarray, draws: int,
                 per_instance: bool) -> torch.Tensor:
    """payload [N, V, T] -> [draws * N, V', T]: copy d of instance i (row d * N + i) received at the
    training SNR ``snr_db[d * N + i]`` (per channel use, or E_inst/N0 with ``per_instance``) over the
    link ``link.at_snr`` chooses for it (one link but for one that adapts its rate, whose copies go in
    groups, one per rate); the caller seeds the channel's stream first."""
    copies = payload.repeat(draws, 1, 1)
    v = payload.shape[1]
    out, order = [], []
    for lk, idx in by_link(link.at_snr(snr_db.tolist(), per_instance, v)):
        symbol_db = snr_db[idx] - 10.0 * math.log10(v * lk.channel_uses) if per_instance else snr_db[idx]
        no = SnrPoints.of(symbol_db.tolist(), payload.dtype, payload.device).no
        mine = copies[idx]
        step = max(1, SYMBOLS_PER_CHUNK // (v * lk.channel_uses))
        for start in range(0, mine.shape[0], step):
            out.append(lk.receive_each(channel, lk.send(mine[start:start + step]), no[start:start + step]))
        order += idx
    return torch.cat(out)[torch.from_numpy(np.argsort(order, kind="stable")).to(payload.device)]
