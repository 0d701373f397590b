"""Reader for the Free Spoken Digit Dataset (FSDD): real recordings of spoken English digits.

A directory of mono WAV files named ``{digit}_{speaker}_{take}.wav`` (e.g. ``7_jackson_32.wav``);
the public release has 6 speakers x 10 digits x 50 takes = 3,000 files at 8 kHz, 16-bit.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

__all__ = ["FILE_NAME", "Recordings", "fit_length", "load_fsdd", "read_fsdd", "speaker_split"]

FILE_NAME = re.compile(r"(?P<digit>\d)_(?P<speaker>.+)_(?P<take>\d+)\.wav")


@dataclass(frozen=True)
class Recordings:
    """N recordings sorted by (digit, speaker, take).

    waves: float32 [N, num_samples] in [-1, 1], each recording centred in zeros (or its middle kept)
    labels: int64 [N] spoken digit
    speakers: [N] speaker name of each recording
    takes: int64 [N] take index within (digit, speaker)
    """

    waves: np.ndarray
    labels: np.ndarray
    speakers: tuple[str, ...]
    takes: np.ndarray


def _pcm_to_float(x: np.ndarray, path: Path) -> np.ndarray:
    """Integer PCM scaled by its full scale (int16: 1/32768), float PCM kept as is."""
    if x.ndim != 1:
        raise ValueError(f"{path}: expected a mono recording, got {x.shape[1]} channels")
    if np.issubdtype(x.dtype, np.signedinteger):
        return x.astype(np.float32) / np.float32(-np.iinfo(x.dtype).min)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    raise ValueError(f"{path}: unsupported sample format {x.dtype}")


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Centre ``x`` in ``num_samples`` zeros, or keep its middle ``num_samples`` if longer
    (the same placement as the synthesised speech)."""
    if len(x) >= num_samples:
        start = (len(x) - num_samples) // 2
        return x[start: start + num_samples]
    out = np.zeros(num_samples, dtype=np.float32)
    offset = (num_samples - len(x)) // 2
    out[offset: offset + len(x)] = x
    return out


def read_fsdd(directory: str | Path, *, sample_rate: int = 8000) -> tuple[list[np.ndarray], np.ndarray,
                                                                       tuple[str, ...], np.ndarray]:
    """Every ``{digit}_{speaker}_{take}.wav`` in ``directory`` at its own length (other files are
    skipped), sorted by (digit, speaker, take): float32 waves in [-1, 1], int64 digits, speakers,
    int64 takes. A file whose rate differs from ``sample_rate`` is resampled with
    ``scipy.signal.resample_poly`` (and clipped to [-1, 1], which resampling can overshoot). Raises
    ``FileNotFoundError`` when the directory is missing or holds no matching file."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"FSDD directory not found: {directory}")
    entries = []
    for path in directory.iterdir():
        m = FILE_NAME.fullmatch(path.name)
        if m and path.is_file():
            entries.append((int(m["digit"]), m["speaker"], int(m["take"]), path))
    if not entries:
        raise FileNotFoundError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in {directory}")
    entries.sort(key=lambda e: e[:3])

    waves = []
    for _, _, _, path in entries:
        rate, pcm = wavfile.read(path)
        x = _pcm_to_float(pcm, path)
        if rate != sample_rate:
            g = math.gcd(rate, sample_rate)
            x = np.clip(resample_poly(x, sample_rate // g, rate // g), -1.0, 1.0).astype(np.float32)
        waves.append(x)
    return (waves, np.array([e[0] for e in entries], dtype=np.int64), tuple(e[1] for e in entries),
            np.array([e[2] for e in entries], dtype=np.int64))


def load_fsdd(directory: str | Path, *, num_samples: int = 8000, sample_rate: int = 8000) -> Recordings:
    """Read every ``{digit}_{speaker}_{take}.wav`` in ``directory`` (other files are skipped), each
    fitted to ``num_samples`` (centred in zeros, or its middle kept).

    A file whose rate differs from ``sample_rate`` is resampled with ``scipy.signal.resample_poly``
    (and clipped to [-1, 1], which resampling can overshoot). Raises ``FileNotFoundError`` when the
    directory is missing or holds no matching file.
    """
    if num_samples <= 0 or sample_rate <= 0:
        raise ValueError(f"num_samples and sample_rate must be positive, got {num_samples}, {sample_rate}")
    raw, labels, speakers, takes = read_fsdd(directory, sample_rate=sample_rate)
    waves = np.empty((len(raw), num_samples), dtype=np.float32)
    for i, x in enumerate(raw):
        waves[i] = fit_length(x, num_samples)
    return Recordings(waves=waves, labels=labels, speakers=speakers, takes=takes)


def speaker_split(speakers: Sequence[str], test_speakers: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Held-out-speaker split: int64 indices of the recordings of the other speakers (train) and of
    ``test_speakers`` (test), each ascending. An unknown test speaker is a ``ValueError``, since a
    typo would otherwise leave the test set silently short."""
    held_out = set(test_speakers)
    unknown = held_out - set(speakers)
    if unknown:
        raise ValueError(f"test speakers {sorted(unknown)} not among {sorted(set(speakers))}")
    is_test = np.array([s in held_out for s in speakers], dtype=bool)
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)
