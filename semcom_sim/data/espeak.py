"""The process's one libespeak-ng (ctypes), driven so that an utterance depends only on its word
and style.

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

What is spoken, in which styles, and how the raw samples become a dataset's clips is
:mod:`semcom_sim.data.speech`.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from pathlib import Path

import espeakng_loader
import numpy as np

__all__ = ["RATE_MIN", "RATE_MAX", "data_path", "new_overlay_dir", "Engine", "shared_engine"]

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it espeak calls exit() when its data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
RATE_MIN, RATE_MAX = 80, 450  # espeakRATE_MINIMUM / espeakRATE_MAXIMUM

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


def data_path() -> Path:
    """The shipped ``espeak-ng-data`` folder (the overlay mirrors it)."""
    try:
        return Path(espeakng_loader.get_data_path())
    except RuntimeError as exc:
        raise RuntimeError(f"espeak-ng data not found: {exc}") from exc


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


class Engine:
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
            data, self._variants, self._klatt_variants = _build_overlay(data_path(), Path(self._overlay.name))
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

    def speak(self, word: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
        """int16 samples at ``self.sample_rate`` (``speech.SpeechStyle`` describes the arguments);
        caller holds ``self.lock``."""
        _, plus, variant = voice.partition("+")
        if not plus or variant not in self._variants:
            raise ValueError(
                f"voice {voice!r} must be '<base>+<variant>' with a variant from espeak's voices/!v"
            )
        if variant in self._klatt_variants:
            # The Klatt generator remembers the previous utterance's last
            # formant frame and, from it, decides whether to reset its filters
            # with a 64-sample fade in the middle of the next word.  Speaking a
            # fixed primer in the same style first makes that frame, and with
            # it the word, the same whatever was spoken before.
            self._utter(_KLATT_PRIMER, voice, rate_wpm, pitch)
        return self._utter(word, voice, rate_wpm, pitch)

    def _utter(self, text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
        lib = self._lib
        # Reloaded even when unchanged since the last utterance: a voice load
        # is what clears the breath resonators and the echo buffer.
        if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise ValueError(f"espeak-ng does not know the base voice of {voice!r}")
        for param, value in ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch),
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


_engine_instance: Engine | None = None
_engine_init_lock = threading.Lock()


def shared_engine() -> Engine:
    """The process's engine, initialised on first use."""
    global _engine_instance
    if _engine_instance is None:
        with _engine_init_lock:
            if _engine_instance is None:
                _engine_instance = Engine()
    return _engine_instance
