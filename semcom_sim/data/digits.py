"""The ``digits`` source: the ten digits seen as an image, a spoken word and a caption.

Each modality comes from a pool chosen in the scenario:

image: ``sklearn`` (scikit-learn's bundled 1,797 real 8x8 digits, no download) or ``mnist``
       (the standard IDX files from a directory, 28x28, with their official train/test split);
audio: ``espeak`` (the digit's word synthesised offline per instance with espeak-ng, cached) or
       ``fsdd`` (real recordings of the Free Spoken Digit Dataset from a directory);
text:  a caption from several templates, tokenised with open_clip's tokenizer.

An instance is one image with an utterance and a caption of the same class. The split is made
per pool, so no test instance shares its image or its recording with a training instance; with
``split: speaker`` the recordings of ``test_speakers`` form the test pool (generalisation to an
unseen voice).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from . import SOURCES
from .captions import DIGIT_TEMPLATES, sample_captions, token_count, tokenize
from .dataset import MultimodalData
from .pools import SKLEARN_DIGITS, assign_from_pool, sklearn_digit_split, stratified_subset
from .source import DataSource, data_directory
from .speech import DIGIT_WORDS, sample_styles, style_ranges, synthesize
from .speech_cache import cached_speech, speech_key

# bump when the synthesis changes in a way the cache key does not see
# (2: entries carry a checksum header, see semcom_sim.cache)
_AUDIO_FORMAT = 2


@SOURCES.register("digits")
class DigitsSource(DataSource):
    modalities = ("image", "audio", "text")

    def __init__(self, *, image: str = "sklearn", audio: str = "espeak", image_dir: str | None = None,
                 audio_dir: str | None = None, split: str = "random", test_speakers: tuple[str, ...] = ("theo",),
                 sample_rate: int = 8000, audio_samples: int = 8000, context_length: int = 16,
                 noise_snr_db: tuple[float, float] = (10.0, 30.0), rate_wpm: tuple[int, int] = (120, 220),
                 pitch: tuple[int, int] = (25, 75)):
        if image not in ("sklearn", "mnist"):
            raise ValueError(f"image: {image!r} is not one of sklearn, mnist")
        if audio not in ("espeak", "fsdd"):
            raise ValueError(f"audio: {audio!r} is not one of espeak, fsdd")
        if split not in ("random", "speaker"):
            raise ValueError(f"split: {split!r} is not one of random, speaker")
        if split == "speaker" and audio != "fsdd":
            raise ValueError("split: 'speaker' needs recorded speech (audio: fsdd)")
        self.image, self.audio, self.split = image, audio, split
        self.image_dir = data_directory("image_dir", image_dir) if image == "mnist" else None
        self.audio_dir = data_directory("audio_dir", audio_dir) if audio == "fsdd" else None
        self.test_speakers = tuple(test_speakers)
        self.sample_rate = int(sample_rate)
        self.audio_samples = int(audio_samples)
        self.context_length = int(context_length)
        self.noise_snr_db, self.rate_wpm, self.pitch = style_ranges(noise_snr_db, rate_wpm, pitch)
        if self.audio_samples < 256 or self.context_length < 4:
            raise ValueError("audio_samples must be >= 256 and context_length >= 4")

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """One instance's shape per modality, known before any data is loaded."""
        side = 28 if self.image == "mnist" else 8
        return {"image": (1, side, side), "audio": (self.audio_samples,), "text": (self.context_length,)}

    def caption_tokens(self) -> int:
        """Distinct token ids its captions can hold (the bound of a caption decoder's vocabulary)."""
        return token_count(DIGIT_TEMPLATES, DIGIT_WORDS, self.context_length)

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int]:
        """(train, test) sizes that ``load`` returns, without reading the data (MNIST: the IDX
        headers only); ``semcom_sim.scenario.budget`` budgets a run with them before any work."""
        if self.image == "mnist":
            from .mnist import split_sizes

            n_tr, n_te = split_sizes(self.image_dir)
        else:  # train_test_split: ceil(test_fraction * N) test instances
            n_te = math.ceil(test_fraction * SKLEARN_DIGITS)
            n_tr = SKLEARN_DIGITS - n_te
            if min(n_tr, n_te) < len(DIGIT_WORDS):  # the stratified split needs every class on both sides
                raise ValueError(f"test_fraction {test_fraction:g} splits the {SKLEARN_DIGITS} images into "
                                 f"{n_tr} train / {n_te} test, fewer than the {len(DIGIT_WORDS)} classes")
        if limit:
            t = max(10, round(limit * n_te / (n_tr + n_te)))
            n_tr, n_te = min(limit - t, n_tr), min(t, n_te)
            if min(n_tr, n_te) < len(DIGIT_WORDS):
                raise ValueError(f"limit {limit} with test_fraction {test_fraction:g} leaves {n_tr} train / {n_te} "
                                 f"test instances: each side needs at least one instance of each of the "
                                 f"{len(DIGIT_WORDS)} classes (raise limit or move test_fraction towards 0.5)")
        return n_tr, n_te

    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        """(train, test); ``limit`` keeps a stratified subset of that many instances in all."""
        images, labels, is_test = self._images(seed, test_fraction)
        tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        if limit:
            n_test = max(10, round(limit * len(te) / len(labels)))
            tr = stratified_subset(tr, labels, limit - n_test, seed + 1)
            te = stratified_subset(te, labels, n_test, seed + 2)
        order = np.concatenate([tr, te])
        images, labels = images[order], labels[order]
        audio = self._audio_for(labels, len(tr), cache_dir, seed)
        captions = sample_captions(labels, DIGIT_WORDS, np.random.default_rng([seed, 1]))
        data = MultimodalData(
            inputs={"image": images, "audio": torch.from_numpy(audio), "text": tokenize(captions, self.context_length)},
            labels=torch.from_numpy(labels),
            class_names=DIGIT_WORDS,
            raw_sizes={"image": int(images[0].numel()), "audio": self.audio_samples, "text": self.context_length},
        )
        return data.subset(np.arange(len(tr))), data.subset(np.arange(len(tr), len(order)))

    def _images(self, seed: int, test_fraction: float) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """All images [N, 1, H, W] in [0, 1], labels [N], and which ones are test images."""
        if self.image == "mnist":
            from .mnist import load_mnist

            parts = [load_mnist(self.image_dir, split) for split in ("train", "test")]
            pixels = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
            # MNIST's own split, so results compare with the literature
            is_test = np.arange(len(labels)) >= len(parts[0][1])
            return torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1), labels, is_test
        pixels, labels, is_test = sklearn_digit_split(seed, test_fraction)
        return torch.from_numpy(pixels).unsqueeze(1), labels, is_test

    def _audio_for(self, labels: np.ndarray, n_train: int, cache_dir: Path, seed: int) -> np.ndarray:
        """float32 [N, audio_samples]: an utterance of each instance's class, test after train."""
        from sklearn.model_selection import train_test_split  # 0.7 s to import: not at start-up

        if self.audio == "espeak":
            return self._synthesised(labels, cache_dir, seed)
        from .fsdd import load_fsdd, speaker_split

        rec = load_fsdd(self.audio_dir, num_samples=self.audio_samples, sample_rate=self.sample_rate)
        if self.split == "speaker":
            unknown = set(self.test_speakers) - set(rec.speakers)
            if unknown:
                raise ValueError(f"test_speakers: {sorted(unknown)} not among {sorted(set(rec.speakers))}")
            pool_tr, pool_te = speaker_split(rec.speakers, self.test_speakers)
        else:
            test_share = (len(labels) - n_train) / len(labels)
            pool_tr, pool_te = train_test_split(np.arange(len(rec.labels)), test_size=test_share,
                                                random_state=seed % 2**32, stratify=rec.labels)
        rng = np.random.default_rng([seed, 3])
        pick_tr = np.asarray(pool_tr)[assign_from_pool(rec.labels[pool_tr], labels[:n_train], rng)]
        pick_te = np.asarray(pool_te)[assign_from_pool(rec.labels[pool_te], labels[n_train:], rng)]
        return rec.waves[np.concatenate([pick_tr, pick_te])]

    def _synthesised(self, labels: np.ndarray, cache_dir: Path, seed: int) -> np.ndarray:
        key = speech_key({
            "format": _AUDIO_FORMAT, "labels": hashlib.sha256(labels.tobytes()).hexdigest(), "seed": seed,
            "sr": self.sample_rate, "n": self.audio_samples, "noise": self.noise_snr_db,
            "rate": self.rate_wpm, "pitch": self.pitch,
        })

        def build() -> np.ndarray:
            rng = np.random.default_rng([seed, 2])
            styles = sample_styles(len(labels), rng, rate_range=self.rate_wpm, pitch_range=self.pitch,
                                   noise_snr_db_range=self.noise_snr_db)
            return synthesize([DIGIT_WORDS[y] for y in labels], styles, sample_rate=self.sample_rate,
                              num_samples=self.audio_samples, rng=rng)

        return cached_speech(Path(cache_dir) / "data" / f"digits-audio-{key}.npy",
                             (len(labels), self.audio_samples), build)
