"""Audio encoder: a fixed log-mel front end followed by a small CNN.

torchaudio does not match the pinned torch, so the mel filterbank is written here (HTK mel
scale, triangular filters); the STFT is torch's.
"""
from __future__ import annotations

import torch
from torch import nn

from . import ENCODERS
from .base import Encoder, positive_ints


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 20.0,
                   f_max: float | None = None) -> torch.Tensor:
    """[n_mels, n_fft // 2 + 1] triangular filters evenly spaced on the HTK mel scale."""
    f_max = f_max or sample_rate / 2

    def hz_to_mel(f: float | torch.Tensor):
        return 2595.0 * (torch.log10(1.0 + torch.as_tensor(f) / 700.0))

    mels = torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (bins - lower) / (centre - lower)
    down = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0)


# the log-mel front end's defaults: LogMel's and the logmel_cnn encoder's (and so the audio decoders'
# targets where the audio encoder has no log-mel front end of its own)
LOGMEL_DEFAULTS: dict[str, int] = {"sample_rate": 8000, "n_fft": 256, "hop": 128, "n_mels": 32}


class LogMel(nn.Module):
    """waveform [N, S] -> log-mel spectrogram [N, n_mels, frames], normalised per utterance."""

    def __init__(self, sample_rate: int = LOGMEL_DEFAULTS["sample_rate"], n_fft: int = LOGMEL_DEFAULTS["n_fft"],
                 hop: int = LOGMEL_DEFAULTS["hop"], n_mels: int = LOGMEL_DEFAULTS["n_mels"]):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fbank", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)

    @staticmethod
    def output_shape(samples: int, *, n_fft: int = LOGMEL_DEFAULTS["n_fft"], hop: int = LOGMEL_DEFAULTS["hop"],
                     n_mels: int = LOGMEL_DEFAULTS["n_mels"], **_) -> tuple[int, int]:
        """(n_mels, frames) of ``forward`` on [N, samples] waveforms, without data (the STFT is
        centred: one frame per ``hop`` samples, plus one); ValueError for sizes it cannot use."""
        positive_ints(n_fft=n_fft, hop=hop, n_mels=n_mels)
        if n_fft > samples:
            raise ValueError(f"n_fft {n_fft} is longer than the {samples}-sample waveforms")
        return n_mels, samples // hop + 1

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, return_complex=True).abs().square()
        mel = torch.log(self.fbank @ spec + 1e-6)
        # per-utterance mean/std removes loudness and recording-level offsets
        mel = (mel - mel.mean(dim=(-2, -1), keepdim=True)) / (mel.std(dim=(-2, -1), keepdim=True) + 1e-5)
        return mel


@ENCODERS.register("logmel_cnn")
class LogMelCNN(Encoder):
    """input float [N, S] waveform at ``sample_rate`` -> [N, D].

    The CNN convolves over time with the mel bands as channels (1-D), which is several times
    cheaper on a CPU than a 2-D CNN over the spectrogram and as accurate for single words.
    """

    modality = "audio"

    def __init__(self, dim: int, input_shape: tuple[int, ...], *, sample_rate: int = LOGMEL_DEFAULTS["sample_rate"],
                 n_mels: int = LOGMEL_DEFAULTS["n_mels"], n_fft: int = LOGMEL_DEFAULTS["n_fft"],
                 hop: int = LOGMEL_DEFAULTS["hop"], width: int = 64):
        super().__init__()
        if len(input_shape) != 1:
            raise ValueError(f"logmel_cnn expects [samples] waveforms, got shape {input_shape}")
        positive_ints(sample_rate=sample_rate, n_mels=n_mels, n_fft=n_fft, hop=hop, width=width)
        if n_fft > input_shape[0]:
            raise ValueError(f"n_fft {n_fft} is longer than the {input_shape[0]}-sample waveforms")
        self.frontend = LogMel(sample_rate, n_fft, hop, n_mels)
        self.net = nn.Sequential(
            nn.Conv1d(n_mels, width, 5, stride=2, padding=2), nn.BatchNorm1d(width), nn.GELU(),
            nn.Conv1d(width, width, 3, stride=2, padding=1), nn.BatchNorm1d(width), nn.GELU(),
            nn.AdaptiveAvgPool1d(4), nn.Flatten(), nn.Linear(4 * width, dim),
        )

    @classmethod
    def logmel_options(cls, **options) -> dict[str, int]:
        """The keywords of the ``LogMel`` front end that ``cls(dim, shape, **options)`` builds,
        without building it (what the audio decoders' target shape is computed from)."""
        return {k: options.get(k, v) for k, v in LOGMEL_DEFAULTS.items()}

    @torch.no_grad()
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return self.frontend(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
