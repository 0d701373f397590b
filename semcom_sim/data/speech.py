"""Offline synthesis of spoken English digit words with libespeak-ng (ctypes).

The library comes from the ``espeakng-loader`` wheel, which ships both the
shared object and its ``espeak-ng-data`` folder, so nothing has to be
installed system-wide and nothing is fetched at run time.

Determinism.  libespeak-ng keeps synthesis state in process-global statics
that no API call resets: a pitch "flutter" phase counter and a roughness
cycle counter that keep advancing across utterances, the breath-noise
resonators, the echo buffer, the Klatt generator's memory of the last formant
frame, an overflow AGC gain, and two random generators (its own and libc
``rand``).  Left alone, the same word in the same style comes out differently
depending on what was spoken before.  This module therefore

* runs espeak from a private overlay of the shipped data whose voice variants
  additionally say ``flutter 0`` and ``roughness 8`` (8 is past espeak's
  roughness table, i.e. no cycle-count modulation), so the two counters no
  longer reach the waveform;
* reloads the voice before every utterance, which re-initialises the breath
  resonators and the echo buffer;
* for Klatt variants, speaks a fixed primer in the same style first, so the
  remembered formant frame is always the same;
* synthesises at half espeak's default volume so that no variant reaches int16
  full scale, which keeps the AGC gain at unity;
* reseeds both random generators before every utterance.

With these, each utterance came out byte-identical for the same (word, style)
over thousands of randomised preceding utterances (all voices, rates 80..450,
pitches 0..100).  Reseeding calls libc ``srand``, which also resets the
process-wide C ``rand()`` sequence.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import espeakng_loader
import numpy as np

__all__ = ["DIGIT_WORDS", "SpeechStyle", "voice_variants", "sample_styles", "synthesize", "trim_silence"]

DIGIT_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it espeak calls exit() when its data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_RATE_MIN, _RATE_MAX = 80, 450  # espeakRATE_MINIMUM / espeakRATE_MAXIMUM

# Half the default 100: the loudest shipped variants peak near int16 full
# scale at 100, where espeak's sticky overflow AGC would engage.
_VOLUME = 50
# Longer callback buffers mean fewer Python callbacks per word.
_BUFFER_MS = 500
_RAND_SEED = 1
_VARIANT_OVERRIDES = b"\nflutter 0\nroughness 8\n"
_KLATT_PRIMER = "a"

# int cb(short *wav, int numsamples, espeak_EVENT *events).  The events are
# never read, so the pointer is declared opaque instead of mirroring the
# espeak_EVENT struct.
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
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
        if not _RATE_MIN <= self.rate_wpm <= _RATE_MAX:
            raise ValueError(f"rate_wpm must be in [{_RATE_MIN}, {_RATE_MAX}], got {self.rate_wpm}")
        if not 0 <= self.pitch <= 100:
            raise ValueError(f"pitch must be in [0, 100], got {self.pitch}")
        if math.isnan(self.noise_snr_db) or self.noise_snr_db == -math.inf:
            raise ValueError(f"noise_snr_db must be a number or +inf, got {self.noise_snr_db}")


def _data_path() -> Path:
    try:
        return Path(espeakng_loader.get_data_path())
    except RuntimeError as exc:
        raise RuntimeError(f"espeak-ng data not found: {exc}") from exc


@functools.cache
def voice_variants() -> tuple[str, ...]:
    """Distinct ``"<base>+<variant>"`` voice names present in the installed data
    (24 with espeakng-loader 0.2.4's data: variants m1..m8, f1..f5, klatt..klatt6,
    croak, whisper, whisperf over eight English accents).

    Entries whose base voice (``lang/``) or variant (``voices/!v``) is missing
    from the installed espeak-ng data are left out.
    """
    data = _data_path()
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
    if not (80 <= ranges[1][0] and ranges[1][1] <= 450):
        raise ValueError(f"rate_wpm: {list(ranges[1])} is outside espeak's 80..450 words per minute")
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



_OVERLAY_PREFIX = "semcom-espeak-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another account's process: alive as far as we can tell
    return True


def new_overlay_dir() -> tempfile.TemporaryDirectory:
    """A temporary folder for the voice overlay, named with this process's pid. A process that
    ends by ``os._exit`` (an interrupted CLI) or SIGKILL never removes its own (about 1 MB each),
    so the overlays of processes that no longer run are removed here first."""
    for p in Path(tempfile.gettempdir()).glob(f"{_OVERLAY_PREFIX}*-*"):
        pid = p.name[len(_OVERLAY_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)) and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{_OVERLAY_PREFIX}{os.getpid()}-")


class _Engine:
    """The process's one initialised libespeak-ng; ``lock`` serialises use of its global state."""

    def __init__(self) -> None:
        lib_path = espeakng_loader.get_library_path()
        try:
            lib = ctypes.CDLL(lib_path)
            libc = ctypes.CDLL(None)
        except OSError as exc:
            raise RuntimeError(f"could not load libespeak-ng from {lib_path}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        libc.srand.argtypes = [ctypes.c_uint]
        libc.srand.restype = None

        # The TemporaryDirectory object lives as long as the engine, because
        # espeak reads voice and dictionary files from it on every voice load.
        self._overlay = new_overlay_dir()
        try:
            data, self._variants, self._klatt_variants = _build_overlay(_data_path(), Path(self._overlay.name))
        except OSError as exc:
            raise RuntimeError(f"could not prepare the espeak-ng voice overlay: {exc}") from exc
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(data).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {rate}) with data path {data}")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        # ctypes does not keep the C thunk alive on its own; espeak would call freed memory.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self._libc = libc
        self.lock = threading.Lock()

    def _collect(self, wav, numsamples, _events) -> int:
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * numsamples))
        return 0  # 0 = continue synthesis

    def speak(self, word: str, style: SpeechStyle) -> np.ndarray:
        """int16 samples at ``self.sample_rate``; caller holds ``self.lock``."""
        _, plus, variant = style.voice.partition("+")
        if not plus or variant not in self._variants:
            raise ValueError(
                f"voice {style.voice!r} must be '<base>+<variant>' with a variant from espeak's voices/!v"
            )
        if variant in self._klatt_variants:
            # The Klatt generator remembers the previous utterance's last
            # formant frame and, from it, decides whether to reset its filters
            # with a 64-sample fade in the middle of the next word.  Speaking a
            # fixed primer in the same style first makes that frame, and with
            # it the word, the same whatever was spoken before.
            self._utter(_KLATT_PRIMER, style)
        return self._utter(word, style)

    def _utter(self, text: str, style: SpeechStyle) -> np.ndarray:
        lib = self._lib
        # Reloaded even when unchanged since the last utterance: a voice load
        # is what clears the breath resonators and the echo buffer.
        if lib.espeak_SetVoiceByName(style.voice.encode()) != _EE_OK:
            raise ValueError(f"espeak-ng does not know the base voice of {style.voice!r}")
        for param, value in ((_PARAM_RATE, style.rate_wpm), (_PARAM_PITCH, style.pitch),
                             (_PARAM_VOLUME, _VOLUME)):
            if lib.espeak_SetParameter(param, value, 0) != _EE_OK:
                raise RuntimeError(f"espeak_SetParameter({param}, {value}) failed")
        lib.espeak_ng_SetRandSeed(_RAND_SEED)
        self._libc.srand(_RAND_SEED)
        encoded = text.encode("utf-8") + b"\0"
        self._chunks.clear()
        status = lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r}")
        lib.espeak_Synchronize()
        samples = np.frombuffer(b"".join(self._chunks), dtype=np.int16)
        self._chunks.clear()
        return samples


def _build_overlay(src: Path, root: Path) -> tuple[Path, frozenset[str], frozenset[str]]:
    """Mirror ``src`` under ``root`` with symlinks, except for voice variants,
    which are copied with the determinism overrides appended (later keywords
    in an espeak voice file win).

    Returns the overlay's data path, all variant names, and the names of the
    variants that select the Klatt generator."""
    data = root / "espeak-ng-data"
    data.mkdir()
    for entry in src.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    (data / "voices").mkdir()
    for entry in (src / "voices").iterdir():
        if entry.name != "!v":
            (data / "voices" / entry.name).symlink_to(entry)
    out_dir = data / "voices" / "!v"
    out_dir.mkdir()
    names, klatt = [], []
    for variant in (src / "voices" / "!v").iterdir():
        if variant.is_file():
            content = variant.read_bytes()
            (out_dir / variant.name).write_bytes(content + _VARIANT_OVERRIDES)
            names.append(variant.name)
            if any(line.split()[:1] == [b"klatt"] for line in content.splitlines()):
                klatt.append(variant.name)
    return data, frozenset(names), frozenset(klatt)


_engine_instance: _Engine | None = None
_engine_init_lock = threading.Lock()


def _engine() -> _Engine:
    global _engine_instance
    if _engine_instance is None:
        with _engine_init_lock:
            if _engine_instance is None:
                _engine_instance = _Engine()
    return _engine_instance


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
    engine = _engine()
    with engine.lock:
        raw = [engine.speak(word, style) for word, style in zip(words, styles)]

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
