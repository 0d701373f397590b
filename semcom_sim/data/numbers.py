"""The ``numbers`` source: the hundred numbers 0..99 seen as two handwritten digits, a spoken
number and a caption; 100 classes instead of the ten of ``digits`` (embedded, no download).

image: two real 8x8 digits of scikit-learn's bundled set side by side, ``[1, 8, 16]`` in [0, 1],
       the tens digit on the left. A number below 10 has a **blank** left half (zeros), as it is
       written ("7", not "07"), spoken ("seven") and captioned; its digit sits on the right.
       ``image_noise`` (default 0.5) adds Gaussian pixel noise of that std, clipped to [0, 1].
audio: ``espeak`` (default): the spoken number ("forty two", "seven", "thirteen") synthesised
       per instance with espeak-ng (:mod:`semcom_sim.data.speech`), voice, rate, pitch and noise
       drawn per utterance as in the ``digits`` source; 14,000 samples (1.75 s at 8 kHz) by
       default: the longest utterance, "seventy nine" at 120 words per minute (the slowest default
       rate), is 13,002 samples over every voice and number once trimmed. ``fsdd``: two real
       recordings of the Free Spoken Digit Dataset concatenated, tens then ones ("four" "two",
       so 12 is "one" "two": FSDD holds single digits only), from one speaker; a number below 10 is
       one recording ("seven"), like the blank left half of its image. Each recording is trimmed
       of its leading and trailing silence as synthesised speech is; the pair is centred in the
       clip (or its middle kept).
text:  a caption from templates, tokenised with open_clip's tokenizer: with probability
       ``caption_detail`` (default 0.2) one that names the number ("forty-two", "the number 42",
       "a 4 and a 2", "someone saying forty two", ...), otherwise one that names only its decade or
       its last digit ("a number in the forties", "a number ending in 2", "something that ends
       with two"), shared by ten numbers (nine below ten).

Difficulty. With clean images, speech at 10..30 dB and full captions every modality settles the
number alone and the default scenario saturates (noiseless top-1 1.000 for both schemes at
tau = 0.3). The defaults (``image_noise`` 0.5, ``noise_snr_db`` -5..15 dB, ``caption_detail`` 0.2)
leave each modality ambiguous so that the receiver must combine them: linear probes on the test
embeddings of ``scenarios/numbers.yaml`` at seed 0 reach 0.35 (image), 0.47 (audio) and 0.26
(text) top-1, the conventional scheme 0.675. They were set once, looking at that one figure only
(aim: the middle of 0.5..0.95), before any comparison of schemes or temperatures was run.

Labels: ``label: number`` (default): 100 classes, ``class_names`` "0".."99". ``label: digits``:
float multi-hot ``[N, 10]`` of the digits the number is written with (one or two ones per row:
7 -> {7}, 42 -> {2, 4}, 44 -> {4}); the receiver's heads become one-vs-rest and results add mAP and
micro-F1.

Pools are disjoint between the splits; each split composes its numbers from its own pool only:

- images: scikit-learn's 1,797 digits split first, ``test_fraction`` of each digit's images to
  the test pool (stratified, seeded as the ``digits`` source does);
- espeak: the test utterances are spoken by voices that no training utterance uses
  (``test_voices``, default five of the 24: one per variant family, each variant absent from
  training; every utterance is synthesised for its own instance, so none is shared either);
- fsdd: the recordings of ``test_speakers`` (default ``theo``) form the test pool, the other
  speakers' the training pool (:func:`semcom_sim.data.fsdd.speaker_split`).

Sizes: ``instances`` in all (default 6,250: 5,000 training and 1,250 test instances at the
default ``test_fraction`` 0.2), ``ceil(test_fraction * instances)`` of them test instances; every
number occurs equally often in each split (exactly, where the size is a multiple of 100).
``data.limit`` keeps that many instances in all, in the proportion of the split, at least 100 per
split (every number on both sides): being composed, the smaller set is generated directly rather
than cut out of the full one, with the same stratification. Synthesised speech is cached per
(labels, split, options, seed) under ``<cache>/data/numbers-audio-<key>.npy`` through
:mod:`semcom_sim.cache`; images and captions are composed on the fly (milliseconds).

Options (``data.options``): ``label`` (number, digits), ``audio`` (espeak, fsdd), ``instances``,
``image_noise``, ``caption_detail``;
espeak: ``test_voices``, ``rate_wpm``, ``pitch``, ``noise_snr_db`` (ranges drawn per utterance, as
the ``digits`` source's); fsdd: ``audio_dir`` (or ``$SEMCOM_SIM_FSDD_DIR``), ``test_speakers``;
both: ``sample_rate``, ``audio_samples``, ``context_length``.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from . import SOURCES
from .captions import sample_captions, token_count, tokenize
from .dataset import MultimodalData
from .pools import SKLEARN_DIGITS, assign_from_pool, sklearn_digit_split
from .source import DataSource, data_directory
from .speech import DIGIT_WORDS, sample_styles, style_ranges, synthesize, voice_variants
from .speech_cache import cached_speech, speech_key

# bump when the composition or the synthesis changes in a way the cache key does not see
_AUDIO_FORMAT = 1
NUMBERS = 100
CLASS_NAMES: tuple[str, ...] = tuple(str(n) for n in range(NUMBERS))
DIGIT_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))
# one voice per variant family (male, female, Klatt, whisper), each variant unused by the other voices
TEST_VOICES: tuple[str, ...] = ("en-gb-x-rp+m5", "en-us-nyc+m6", "en-gb-scotland+f3", "en-us-nyc+klatt4",
                                "en-us+whisperf")

_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int, sep: str = " ") -> str:
    """English words of 0 <= n < 100: ``sep`` joins tens and ones ("forty two", "forty-two")."""
    if not 0 <= n < NUMBERS:
        raise ValueError(f"{n} is not in 0..99")
    if n < 10:
        return DIGIT_WORDS[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, ones = divmod(n, 10)
    return _TENS[tens] if ones == 0 else f"{_TENS[tens]}{sep}{DIGIT_WORDS[ones]}"


SPOKEN: tuple[str, ...] = tuple(number_words(n) for n in range(NUMBERS))  # what espeak says
WRITTEN: tuple[str, ...] = tuple(number_words(n, "-") for n in range(NUMBERS))

# {w}: written words ("forty-two"), {d}: the number ("42"), {s}: spoken words ("forty two"),
# {p}: its digits ("a 4 and a 2"; below 10 "just a 7"), {g}: "the digits 4 2" ("the digit 7")
NUMBER_TEMPLATES: tuple[str, ...] = (
    "{w}",
    "the number {d}",
    "{p}",
    "someone saying {s}",
    "a handwritten {w}",
    "{d} written by hand",
    "the spoken number {s}",
    "number {d}",
    "{g}",
    "a picture of {g}",
)


# captions that name one digit only, so that the text alone leaves ten (or, below ten, nine) numbers
# open: {r}: the decade ("in the forties", "in the teens", "below ten"), {o}: the last digit ("2"),
# {ow}: its word ("two")
PARTIAL_TEMPLATES: tuple[str, ...] = (
    "a number {r}",
    "something {r}",
    "a number ending in {o}",
    "a number ending in {ow}",
    "something that ends with {ow}",
    "a handwritten number {r}",
)


def _decade(n: int) -> str:
    if n < 10:
        return "below ten"
    if n < 20:
        return "in the teens"
    return f"in the {_TENS[n // 10][:-1]}ies"


def caption_fields(n: int) -> dict[str, str]:
    """The per-number values of NUMBER_TEMPLATES and PARTIAL_TEMPLATES besides {w} and {d}."""
    tens, ones = divmod(n, 10)
    partial = {"r": _decade(n), "o": str(ones), "ow": DIGIT_WORDS[ones]}
    if n < 10:
        return {"s": SPOKEN[n], "p": f"just a {ones}", "g": f"the digit {ones}", **partial}
    return {"s": SPOKEN[n], "p": f"a {tens} and a {ones}", "g": f"the digits {tens} {ones}", **partial}


def captions(numbers: np.ndarray, detail: float, rng: np.random.Generator) -> list[str]:
    """One caption per number: with probability ``detail`` one that names the whole number
    (NUMBER_TEMPLATES), otherwise one that names its decade or its last digit (PARTIAL_TEMPLATES)."""
    fields = [caption_fields(n) for n in range(NUMBERS)]
    full = rng.random(len(numbers)) < detail
    whole = sample_captions(numbers, WRITTEN, rng, NUMBER_TEMPLATES, fields=fields)
    part = sample_captions(numbers, WRITTEN, rng, PARTIAL_TEMPLATES, fields=fields)
    return [w if f else p for w, p, f in zip(whole, part, full)]


def digit_sets(numbers: np.ndarray) -> np.ndarray:
    """float32 multi-hot [N, 10] of the digits each number is written with (no leading zero)."""
    numbers = np.asarray(numbers)
    out = np.zeros((len(numbers), 10), dtype=np.float32)
    rows = np.arange(len(numbers))
    out[rows, numbers % 10] = 1.0
    two = numbers >= 10
    out[rows[two], numbers[two] // 10] = 1.0
    return out


def _balanced(n: int, rng: np.random.Generator) -> np.ndarray:
    """n numbers, each of the 100 occurring n // 100 or n // 100 + 1 times, in random order."""
    return rng.permutation(np.arange(n) % NUMBERS).astype(np.int64)


@SOURCES.register("numbers")
class NumbersSource(DataSource):
    modalities = ("image", "audio", "text")

    def __init__(self, *, label: str = "number", audio: str = "espeak", instances: int = 6250,
                 test_voices: tuple[str, ...] = TEST_VOICES, audio_dir: str | None = None,
                 test_speakers: tuple[str, ...] = ("theo",), sample_rate: int = 8000, audio_samples: int = 14000,
                 context_length: int = 16, noise_snr_db: tuple[float, float] = (-5.0, 15.0),
                 rate_wpm: tuple[int, int] = (120, 220), pitch: tuple[int, int] = (25, 75),
                 caption_detail: float = 0.2, image_noise: float = 0.5):
        if label not in ("number", "digits"):
            raise ValueError(f"label: {label!r} is not one of number, digits")
        if audio not in ("espeak", "fsdd"):
            raise ValueError(f"audio: {audio!r} is not one of espeak, fsdd")
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 2 * NUMBERS:
            raise ValueError(f"instances: {instances!r} must be an integer >= {2 * NUMBERS} "
                             f"(every one of the {NUMBERS} numbers in both splits)")
        for name, value in (("test_voices", test_voices), ("test_speakers", test_speakers)):
            if isinstance(value, str) or not all(isinstance(v, str) for v in value) or not value:
                raise ValueError(f"{name}: must be a non-empty list of names (got {value!r})")
        self.label, self.audio, self.instances = label, audio, int(instances)
        for name, value, hi in (("caption_detail", caption_detail, 1.0), ("image_noise", image_noise, 10.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= hi:
                raise ValueError(f"{name}: {value!r} must be a number in [0, {hi:g}]")
        self.caption_detail, self.image_noise = float(caption_detail), float(image_noise)
        self.sample_rate = int(sample_rate)
        self.audio_samples = int(audio_samples)
        self.context_length = int(context_length)
        self.noise_snr_db, self.rate_wpm, self.pitch = style_ranges(noise_snr_db, rate_wpm, pitch)
        if self.audio_samples < 256 or self.context_length < 4 or self.sample_rate < 1000:
            raise ValueError("audio_samples must be >= 256, context_length >= 4 and sample_rate >= 1000")
        self.test_voices = tuple(test_voices)
        self.test_speakers = tuple(test_speakers)
        self.audio_dir = None
        if audio == "espeak":
            known = voice_variants()
            unknown = [v for v in self.test_voices if v not in known]
            if unknown:
                raise ValueError(f"test_voices: {unknown[0]!r} is not an installed voice ({', '.join(known)})")
            self.train_voices = tuple(v for v in known if v not in self.test_voices)
            if not self.train_voices:
                raise ValueError("test_voices: holds out every voice, leaving none for training")
        else:
            self.audio_dir = data_directory("audio_dir", audio_dir)
            speakers = self._fsdd_speakers()
            unknown = sorted(set(self.test_speakers) - speakers)
            if unknown:
                raise ValueError(f"test_speakers: {unknown} not among the speakers of {self.audio_dir} "
                                 f"({', '.join(sorted(speakers))})")
            if not speakers - set(self.test_speakers):
                raise ValueError("test_speakers: holds out every speaker, leaving none for training")

    def _fsdd_speakers(self) -> set[str]:
        """Speakers named by the directory's ``{digit}_{speaker}_{take}.wav`` files (no file is read)."""
        from .fsdd import FILE_NAME

        speakers = {m["speaker"] for p in self.audio_dir.iterdir() if (m := FILE_NAME.fullmatch(p.name))}
        if not speakers:
            raise ValueError(f"audio_dir: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in {self.audio_dir}")
        return speakers

    # ------------------------------------------------------------------ the source interface

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """One instance's shape per modality, known before any data is loaded."""
        return {"image": (1, 8, 16), "audio": (self.audio_samples,), "text": (self.context_length,)}

    def caption_tokens(self) -> int:
        """Distinct token ids its captions can hold (the bound of a caption decoder's vocabulary)."""
        fields = [caption_fields(n) for n in range(NUMBERS)]
        return token_count(NUMBER_TEMPLATES + PARTIAL_TEMPLATES, WRITTEN, self.context_length, fields)

    def instance_counts(self, test_fraction: float, limit: int | None = None) -> tuple[int, int]:
        """(train, test) sizes that ``load`` returns, without generating anything; ``semcom_sim.scenario.budget``
        budgets a run with them before any work."""
        n_te = math.ceil(test_fraction * self.instances)
        n_tr = self.instances - n_te
        if min(n_tr, n_te) < NUMBERS:
            raise ValueError(f"test_fraction {test_fraction:g} splits the {self.instances} instances into {n_tr} "
                             f"train / {n_te} test, fewer than the {NUMBERS} numbers on one side")
        n_img_te = math.ceil(test_fraction * SKLEARN_DIGITS)
        if min(n_img_te, SKLEARN_DIGITS - n_img_te) < 10:
            raise ValueError(f"test_fraction {test_fraction:g} leaves fewer than 10 digit images on one side")
        if limit:
            t = max(NUMBERS, round(limit * n_te / (n_tr + n_te)))
            if limit - t < NUMBERS:
                raise ValueError(f"limit {limit} is below {2 * NUMBERS}: every one of the {NUMBERS} numbers "
                                 "needs a training and a test instance")
            n_tr, n_te = min(limit - t, n_tr), min(t, n_te)
        return n_tr, n_te

    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        """(train, test), test instances composed from the test pools only."""
        n_tr, n_te = self.instance_counts(test_fraction, limit)
        rng = np.random.default_rng([seed, 10])
        numbers = np.concatenate([_balanced(n_tr, rng), _balanced(n_te, rng)])
        is_test = np.arange(len(numbers)) >= n_tr
        images = self._images(numbers, is_test, seed, test_fraction)
        if self.audio == "espeak":
            audio = self._synthesised(numbers, n_tr, cache_dir, seed)
        else:
            audio = self._recorded(numbers, n_tr, seed)
        text = captions(numbers, self.caption_detail, np.random.default_rng([seed, 1]))
        if self.label == "digits":
            labels, class_names = torch.from_numpy(digit_sets(numbers)), DIGIT_NAMES
        else:
            labels, class_names = torch.from_numpy(numbers), CLASS_NAMES
        data = MultimodalData(
            inputs={"image": torch.from_numpy(images), "audio": torch.from_numpy(audio),
                    "text": tokenize(text, self.context_length)},
            labels=labels, class_names=class_names,
            raw_sizes={"image": 8 * 16, "audio": self.audio_samples, "text": self.context_length},
        )
        return data.subset(np.arange(n_tr)), data.subset(np.arange(n_tr, len(numbers)))

    # ------------------------------------------------------------------ modalities

    @staticmethod
    def image_picks(numbers: np.ndarray, is_test: np.ndarray, labels: np.ndarray, pool_test: np.ndarray,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Index into scikit-learn's digits (``labels``, ``pool_test``: see
        :func:`~semcom_sim.data.pools.sklearn_digit_split`) of each instance's tens image (-1: blank,
        numbers below 10) and ones image, drawn from its split's pool only."""
        rng = np.random.default_rng([seed, 11])
        tens, ones = np.full(len(numbers), -1, dtype=np.int64), np.empty(len(numbers), dtype=np.int64)
        for side in (False, True):
            pool = np.flatnonzero(pool_test == side)
            rows = np.flatnonzero(is_test == side)
            two = rows[numbers[rows] >= 10]
            # tens and ones slots together, so one image is used as evenly as possible across both
            want = np.concatenate([numbers[two] // 10, numbers[rows] % 10])
            picks = pool[assign_from_pool(labels[pool], want, rng, "image")]
            tens[two], ones[rows] = picks[:len(two)], picks[len(two):]
        return tens, ones

    def _images(self, numbers: np.ndarray, is_test: np.ndarray, seed: int, test_fraction: float) -> np.ndarray:
        """float32 [N, 1, 8, 16]: tens digit left (blank below 10), ones digit right."""
        pixels, labels, pool_test = sklearn_digit_split(seed, test_fraction)
        tens, ones = self.image_picks(numbers, is_test, labels, pool_test, seed)
        out = np.zeros((len(numbers), 1, 8, 16), dtype=np.float32)
        two = tens >= 0
        out[two, 0, :, :8] = pixels[tens[two]]
        out[:, 0, :, 8:] = pixels[ones]
        if self.image_noise > 0:
            noise = np.random.default_rng([seed, 12]).normal(0.0, self.image_noise, out.shape)
            out = np.clip(out + noise.astype(np.float32), 0.0, 1.0)
        return out

    def _audio_key(self, numbers: np.ndarray, n_train: int, seed: int) -> str:
        return speech_key({
            "format": _AUDIO_FORMAT, "numbers": hashlib.sha256(numbers.tobytes()).hexdigest(), "n_train": n_train,
            "seed": seed, "sr": self.sample_rate, "n": self.audio_samples, "noise": self.noise_snr_db,
            "rate": self.rate_wpm, "pitch": self.pitch, "train_voices": self.train_voices,
            "test_voices": self.test_voices,
        })

    def speech_styles(self, n_train: int, n_test: int, rng: np.random.Generator) -> list:
        """One style per instance: training instances in the training voices, test ones in the test voices."""
        kw = dict(rate_range=self.rate_wpm, pitch_range=self.pitch, noise_snr_db_range=self.noise_snr_db)
        return (sample_styles(n_train, rng, voices=self.train_voices, **kw)
                + sample_styles(n_test, rng, voices=self.test_voices, **kw))

    def _synthesised(self, numbers: np.ndarray, n_train: int, cache_dir: Path, seed: int) -> np.ndarray:
        """float32 [N, audio_samples]: each instance's number spoken in its own style (cached)."""
        def build() -> np.ndarray:
            rng = np.random.default_rng([seed, 2])
            styles = self.speech_styles(n_train, len(numbers) - n_train, rng)
            return synthesize([SPOKEN[n] for n in numbers], styles, sample_rate=self.sample_rate,
                              num_samples=self.audio_samples, rng=rng)

        path = Path(cache_dir) / "data" / f"numbers-audio-{self._audio_key(numbers, n_train, seed)}.npy"
        return cached_speech(path, (len(numbers), self.audio_samples), build)

    def recording_picks(self, numbers: np.ndarray, n_train: int, speakers: tuple[str, ...], digits: np.ndarray,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Index of each instance's tens recording (-1: none, numbers below 10) and ones recording,
        both by one speaker of its split's pool (``speakers``/``digits``: every recording's)."""
        from .fsdd import speaker_split

        pool_tr, pool_te = speaker_split(speakers, self.test_speakers)
        rng = np.random.default_rng([seed, 3])
        spk = np.array(speakers)
        tens, ones = np.full(len(numbers), -1, dtype=np.int64), np.empty(len(numbers), dtype=np.int64)
        for rows, pool in ((np.arange(n_train), pool_tr), (np.arange(n_train, len(numbers)), pool_te)):
            names = sorted(set(spk[pool]))
            # a speaker per instance, in turn over a shuffled order, so each speaks as often
            who = np.array(names)[rng.permutation(len(rows)) % len(names)]
            for name in names:
                mine = pool[spk[pool] == name]
                r = rows[who == name]
                two = r[numbers[r] >= 10]
                want = np.concatenate([numbers[two] // 10, numbers[r] % 10])
                picks = mine[assign_from_pool(digits[mine], want, rng, f"recording (speaker {name})")]
                tens[two], ones[r] = picks[:len(two)], picks[len(two):]
        return tens, ones

    def _recorded(self, numbers: np.ndarray, n_train: int, seed: int) -> np.ndarray:
        """float32 [N, audio_samples]: FSDD recordings of the digits, tens then ones, one speaker."""
        from .fsdd import fit_length, read_fsdd
        from .speech import trim_silence

        waves, digits, speakers, _ = read_fsdd(self.audio_dir, sample_rate=self.sample_rate)
        tens, ones = self.recording_picks(numbers, n_train, speakers, digits, seed)
        trimmed = [trim_silence(w, self.sample_rate) for w in waves]
        out = np.empty((len(numbers), self.audio_samples), dtype=np.float32)
        for i, (t, o) in enumerate(zip(tens, ones)):
            x = trimmed[o] if t < 0 else np.concatenate([trimmed[t], trimmed[o]])
            out[i] = fit_length(x, self.audio_samples)
        return out
