"""The embedded ``digits`` source: needs no download.

image: scikit-learn's bundled 8x8 handwritten digits (1,797 real samples), scaled to [0, 1];
audio: the spoken English word of the instance's digit, synthesised offline with espeak-ng
       (voice, rate, pitch and noise drawn per instance), cached on disk;
text:  a caption from several templates, tokenised with open_clip's tokenizer.
Each instance pairs one image with a fresh utterance and caption of the same class.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from . import SOURCES
from .captions import sample_captions, tokenize
from .dataset import MultimodalData
from .speech import DIGIT_WORDS, sample_styles, synthesize

# bump when the synthesis changes in a way the cache key does not see
_AUDIO_FORMAT = 1


@SOURCES.register("digits")
class DigitsSource:
    modalities = ("image", "audio", "text")

    def __init__(self, *, sample_rate: int = 8000, audio_samples: int = 8000, context_length: int = 16,
                 noise_snr_db: tuple[float, float] = (10.0, 30.0), rate_wpm: tuple[int, int] = (120, 220),
                 pitch: tuple[int, int] = (25, 75)):
        self.sample_rate = int(sample_rate)
        self.audio_samples = int(audio_samples)
        self.context_length = int(context_length)
        self.noise_snr_db = tuple(float(v) for v in noise_snr_db)
        self.rate_wpm = tuple(int(v) for v in rate_wpm)
        self.pitch = tuple(int(v) for v in pitch)
        for name, (lo, hi) in (("noise_snr_db", self.noise_snr_db), ("rate_wpm", self.rate_wpm),
                               ("pitch", self.pitch)):
            if lo > hi:
                raise ValueError(f"{name}: low {lo} is above high {hi}")
        if self.audio_samples < 256 or self.context_length < 4:
            raise ValueError("audio_samples must be >= 256 and context_length >= 4")

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """One instance's shape per modality, known before any data is loaded."""
        return {"image": (1, 8, 8), "audio": (self.audio_samples,), "text": (self.context_length,)}

    def load(self, cache_dir: Path, seed: int) -> MultimodalData:
        digits = load_digits()
        labels = digits.target.astype(np.int64)
        images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # [N,1,8,8]
        audio = self._audio(labels, cache_dir, seed)
        captions = sample_captions(labels, DIGIT_WORDS, np.random.default_rng([seed, 1]))
        text = tokenize(captions, self.context_length)
        return MultimodalData(
            inputs={"image": images, "audio": torch.from_numpy(audio), "text": text},
            labels=torch.from_numpy(labels),
            class_names=DIGIT_WORDS,
            raw_sizes={"image": 64, "audio": self.audio_samples, "text": self.context_length},
        )

    def _audio(self, labels: np.ndarray, cache_dir: Path, seed: int) -> np.ndarray:
        key = hashlib.sha256(json.dumps({
            "format": _AUDIO_FORMAT, "labels": hashlib.sha256(labels.tobytes()).hexdigest(), "seed": seed,
            "sr": self.sample_rate, "n": self.audio_samples, "noise": self.noise_snr_db,
            "rate": self.rate_wpm, "pitch": self.pitch,
        }, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / "data" / f"digits-audio-{key}.npy"
        if path.is_file():
            return np.load(path)
        rng = np.random.default_rng([seed, 2])
        styles = sample_styles(len(labels), rng, rate_range=self.rate_wpm, pitch_range=self.pitch,
                               noise_snr_db_range=self.noise_snr_db)
        audio = synthesize([DIGIT_WORDS[y] for y in labels], styles, sample_rate=self.sample_rate,
                           num_samples=self.audio_samples, rng=rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, audio)
        tmp.replace(path)  # atomic: a killed run never leaves a half-written cache entry
        return audio
