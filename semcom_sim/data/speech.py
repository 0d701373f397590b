"""Spoken English digit words: the speech styles a source draws and the synthesis of words into
fixed-length, peak-normalised, noisy clips.

The samples come from libespeak-ng, run deterministically by :mod:`semcom_sim.data.espeak`: each
utterance depends only on its word and style, never on what was spoken before.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .espeak import RATE_MAX, RATE_MIN, data_path, shared_engine

__all__ = ["DIGIT_WORDS", "SpeechStyle", "voice_variants", "sample_styles", "synthesize", "trim_silence"]

DIGIT_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)

# One variant per entry, each paired with a different English accent so that
# both the vocal-tract model and the pronunciation rules vary across voices.
_CANDIDATE_VOICES: tuple[str, ...] = (
    "en-us+m1", "en+m2", "en-gb-scotland+m3", "en-029+m4", "en-gb-x-rp+m5",
    "en-us-nyc+m6", "en-gb-x-gbclan+m7", "en-gb-x-gbcwmd+m8",
    "en-us+f1", "en+f2", "en-gb-scotland+f3", "en-029+f4", "en-gb-x-rp+f5",
    "en-gb-x-gbcwmd+f2", "en-us-nyc+f5",
    "en-us+klatt", "en+klatt2", "en-gb-scotland+klatt3", "en-us-nyc+klatt4",
    "en-gb-x-rp+klatt5", "en-029+klatt6",
    "en-us+croak", "en+whisper", "en-us+whisperf",
)

_TRIM_FRAME_S = 0.010
_TRIM_THRESHOLD_DB = -40.0  # frame RMS relative to the loudest frame


@dataclass(frozen=True)
class SpeechStyle:
    """One utterance's variation.

    voice: ``"<base>+<variant>"`` with an espeak English base voice and a
        variant from the shipped ``voices/!v`` folder, e.g. ``"en+f2"``; the
        variant is mandatory because it carries the determinism overrides.
    rate_wpm: speaking rate in words per minute, 80..450.
    pitch: espeak base pitch, 0..100 (50 is the voice's default).
    noise_snr_db: SNR of the additive white Gaussian noise relative to the
        utterance's power; ``math.inf`` adds no noise.
    """

    voice: str
    rate_wpm: int
    pitch: int
    noise_snr_db: float

    def __post_init__(self) -> None:
        if not RATE_MIN <= self.rate_wpm <= RATE_MAX:
            raise ValueError(f"rate_wpm must be in [{RATE_MIN}, {RATE_MAX}], got {self.rate_wpm}")
        if not 0 <= self.pitch <= 100:
            raise ValueError(f"pitch must be in [0, 100], got {self.pitch}")
        if math.isnan(self.noise_snr_db) or self.noise_snr_db == -math.inf:
            raise ValueError(f"noise_snr_db must be a number or +inf, got {self.noise_snr_db}")



@functools.cache
def voice_variants() -> tuple[str, ...]:
    """Distinct ``"<base>+<variant>"`` voice names present in the installed data
    (24 with espeakng-loader 0.2.4's data: variants m1..m8, f1..f5, klatt..klatt6,
    croak, whisper, whisperf over eight English accents).

    Entries whose base voice (``lang/``) or variant (``voices/!v``) is missing
    from the installed espeak-ng data are left out.
    """
    data = data_path()
    bases = {p.name.lower() for p in (data / "lang").rglob("*") if p.is_file()}
    variants = {p.name for p in (data / "voices" / "!v").iterdir() if p.is_file()}
    return tuple(
        name for name in _CANDIDATE_VOICES
        if name.split("+")[0] in bases and name.split("+")[1] in variants
    )


def style_ranges(noise_snr_db, rate_wpm, pitch) -> tuple[tuple[float, float], tuple[int, int], tuple[int, int]]:
    """A source's speech-style options as (noise_snr_db, rate_wpm, pitch) ranges, each low <= high and
    rate and pitch within what espeak-ng accepts; ValueError naming the option otherwise."""
    ranges = (tuple(float(v) for v in noise_snr_db), tuple(int(v) for v in rate_wpm), tuple(int(v) for v in pitch))
    for name, (lo, hi) in zip(("noise_snr_db", "rate_wpm", "pitch"), ranges):
        if lo > hi:
            raise ValueError(f"{name}: low {lo} is above high {hi}")
    if not (RATE_MIN <= ranges[1][0] and ranges[1][1] <= RATE_MAX):
        raise ValueError(f"rate_wpm: {list(ranges[1])} is outside espeak's {RATE_MIN}..{RATE_MAX} words per minute")
    if not (0 <= ranges[2][0] and ranges[2][1] <= 100):
        raise ValueError(f"pitch: {list(ranges[2])} is outside espeak's 0..100")
    return ranges


def sample_styles(
    n: int,
    rng: np.random.Generator,
    *,
    rate_range: tuple[int, int] = (120, 220),
    pitch_range: tuple[int, int] = (25, 75),
    noise_snr_db_range: tuple[float, float] = (10.0, 30.0),
    voices: Sequence[str] | None = None,
) -> list[SpeechStyle]:
    """Draw ``n`` styles: voice uniform over ``voices`` (default: every one of
    :func:`voice_variants`), rate and pitch uniform integers within the inclusive
    ranges, SNR uniform in dB."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    for name, (lo, hi) in (("rate_range", rate_range), ("pitch_range", pitch_range),
                           ("noise_snr_db_range", noise_snr_db_range)):
        if lo > hi:
            raise ValueError(f"{name} must satisfy low <= high, got {(lo, hi)}")
    voices = voice_variants() if voices is None else tuple(voices)
    if not voices:
        raise ValueError("voices must name at least one voice")
    voice_ix = rng.integers(0, len(voices), size=n)
    rates = rng.integers(rate_range[0], rate_range[1] + 1, size=n)
    pitches = rng.integers(pitch_range[0], pitch_range[1] + 1, size=n)
    snrs = rng.uniform(noise_snr_db_range[0], noise_snr_db_range[1], size=n)
    return [
        SpeechStyle(voices[v], int(r), int(p), float(s))
        for v, r, p, s in zip(voice_ix, rates, pitches, snrs)
    ]


@functools.lru_cache(maxsize=8)
def _resample_filter(up: int, down: int) -> np.ndarray:
    # The same Kaiser-windowed low-pass resample_poly would design itself;
    # computing it once instead of per word matters at thousands of words.
    from scipy.signal import firwin  # 0.6 s to import: not at start-up

    max_rate = max(up, down)
    taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    taps.flags.writeable = False
    return taps


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    if up == down:
        return x
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, window=_resample_filter(up, down))


def trim_silence(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` without its leading and trailing 10 ms frames more than 40 dB below the loudest one."""
    frame = max(1, round(_TRIM_FRAME_S * sample_rate))
    n_frames = -(-len(x) // frame)
    padded = np.zeros(n_frames * frame)
    padded[: len(x)] = x
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))
    active = np.flatnonzero(rms >= rms.max() * 10.0 ** (_TRIM_THRESHOLD_DB / 20.0))
    return x[active[0] * frame: min(len(x), (active[-1] + 1) * frame)]


def synthesize(
    words: Sequence[str],
    styles: Sequence[SpeechStyle],
    *,
    sample_rate: int = 8000,
    num_samples: int = 8000,
    rng: np.random.Generator,
) -> np.ndarray:
    """Speak each word in its style.

    Returns a float32 array of shape ``[len(words), num_samples]`` with values in
    [-1, 1].  Per row: espeak output (int16 at espeak's native rate, 22050 Hz
    for the shipped data) is resampled to ``sample_rate`` with
    ``scipy.signal.resample_poly``, leading/trailing silence is trimmed (10 ms
    frames more than 40 dB below the loudest frame), the utterance is
    peak-normalised to 1, then centred in ``num_samples`` zeros (or its middle
    ``num_samples`` kept if longer).  White Gaussian noise from ``rng`` is
    added over the whole row with variance ``P / 10**(snr/10)``, where ``P``
    is the mean power of the utterance's samples inside the row (padding
    excluded); if the noise pushes the row's peak past 1, the row is scaled
    down as a whole, which leaves the SNR unchanged.

    Deterministic: the same inputs and the same ``rng`` state give identical
    output, and each row depends only on its own word and style (not on the
    other rows or on earlier calls).  ``rng`` is advanced by exactly
    ``len(words) * num_samples`` float32 standard normal draws.
    """
    if len(words) != len(styles):
        raise ValueError(f"got {len(words)} words but {len(styles)} styles")
    if sample_rate <= 0 or num_samples <= 0:
        raise ValueError(f"sample_rate and num_samples must be positive, got {sample_rate}, {num_samples}")
    for word in words:
        if not isinstance(word, str) or not word.strip() or "\0" in word:
            raise ValueError(f"words must be non-empty strings without NUL, got {word!r}")
    engine = shared_engine()
    with engine.lock:
        raw = [engine.speak(word, s.voice, s.rate_wpm, s.pitch) for word, s in zip(words, styles)]

    rows = np.zeros((len(words), num_samples), dtype=np.float32)
    power = np.empty(len(words))
    for i, (word, samples) in enumerate(zip(words, raw)):
        if not np.any(samples):
            raise RuntimeError(f"espeak-ng produced no audio for {word!r} in voice {styles[i].voice!r}")
        x = trim_silence(_resample(samples.astype(np.float64), engine.sample_rate, sample_rate), sample_rate)
        x /= np.abs(x).max()
        if len(x) >= num_samples:
            start = (len(x) - num_samples) // 2
            x = x[start: start + num_samples]
            rows[i] = x
            power[i] = np.mean(x ** 2)
        else:
            offset = (num_samples - len(x)) // 2
            rows[i, offset: offset + len(x)] = x
            power[i] = np.mean(x ** 2)

    # Drawn for every row, noiseless or not, so the rng advances by a fixed
    # amount regardless of the styles.
    noise = rng.standard_normal((len(words), num_samples), dtype=np.float32)
    snr_db = np.array([style.noise_snr_db for style in styles], dtype=np.float64)
    noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0)).astype(np.float32)[:, None]
    rows += noise
    rows /= np.maximum(np.float32(1.0), np.abs(rows).max(axis=1, initial=np.float32(0.0)))[:, None]
    return rows
