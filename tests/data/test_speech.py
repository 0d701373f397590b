import math
import os
from pathlib import Path

import numpy as np
import pytest

from semcom_sim.data import espeak
from semcom_sim.data.speech import DIGIT_WORDS, SpeechStyle, sample_styles, synthesize, voice_variants

SR = 8000
N = 8000
CLEAN = math.inf


def _max_xcorr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation over all lags: insensitive to where
    in the window each utterance sits."""
    n = len(a) + len(b)
    c = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    return float(np.abs(c).max() / (np.linalg.norm(a) * np.linalg.norm(b)))


def _span(row: np.ndarray) -> slice:
    # Padding of a noiseless row is exactly zero, so the nonzero span is the utterance.
    nz = np.flatnonzero(row)
    return slice(nz[0], nz[-1] + 1)


@pytest.fixture(scope="module")
def digits_clean() -> np.ndarray:
    style = SpeechStyle("en-us+m1", 170, 50, CLEAN)
    return synthesize(list(DIGIT_WORDS), [style] * 10, rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def seven_in_every_voice() -> np.ndarray:
    styles = [SpeechStyle(v, 170, 50, CLEAN) for v in voice_variants()]
    return synthesize(["seven"] * len(styles), styles, rng=np.random.default_rng(0))


def test_voice_variants_are_many_distinct_and_well_formed():
    voices = voice_variants()
    assert len(voices) >= 20
    assert len(set(voices)) == len(voices)
    for v in voices:
        base, plus, variant = v.partition("+")
        assert base.startswith("en") and plus and variant


def test_every_voice_speaks_and_sounds_different(seven_in_every_voice):
    rows = seven_in_every_voice
    assert np.all(np.abs(rows).max(axis=1) == 1.0)
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            assert _max_xcorr(rows[i], rows[j]) < 0.9, (voice_variants()[i], voice_variants()[j])


def test_shape_dtype_and_range():
    rng = np.random.default_rng(1)
    styles = sample_styles(12, rng)
    words = [DIGIT_WORDS[i % 10] for i in range(12)]
    y = synthesize(words, styles, sample_rate=SR, num_samples=6000, rng=rng)
    assert y.shape == (12, 6000)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.abs(y).max() <= 1.0


def test_sample_styles_respects_ranges():
    styles = sample_styles(200, np.random.default_rng(2), rate_range=(130, 140), pitch_range=(40, 45),
                           noise_snr_db_range=(12.0, 13.0))
    assert {s.voice for s in styles} <= set(voice_variants())
    assert len({s.voice for s in styles}) > 10
    assert all(130 <= s.rate_wpm <= 140 and 40 <= s.pitch <= 45 and 12.0 <= s.noise_snr_db <= 13.0
               for s in styles)


def test_deterministic_for_same_rng_state():
    def run():
        rng = np.random.default_rng(123)
        styles = sample_styles(8, rng)
        words = [DIGIT_WORDS[i] for i in rng.integers(0, 10, 8)]
        return synthesize(words, styles, rng=rng), rng.random()

    (a, after_a), (b, after_b) = run(), run()
    assert a.tobytes() == b.tobytes()
    assert after_a == after_b


@pytest.mark.parametrize("word, voice", [("four", "en+f2"), ("nine", "en-us+klatt"), ("one", "en-gb-x-rp+klatt5")])
def test_row_does_not_depend_on_what_was_spoken_before(word, voice):
    # espeak keeps flutter, breath, echo and Klatt state across utterances;
    # the module's resets must make a row a function of its own word and style.
    target = SpeechStyle(voice, 160, 40, CLEAN)
    alone = synthesize([word], [target], rng=np.random.default_rng(0))[0]
    contexts = [SpeechStyle(v, r, p, CLEAN) for v, r, p in
                [("en+whisper", 220, 90), ("en-us+klatt", 300, 10), ("en-us+m1", 100, 70), (voice, 200, 60)]]
    for context in contexts:
        for context_word in DIGIT_WORDS:
            batch = synthesize([context_word, word], [context, target], rng=np.random.default_rng(0))
            assert batch[1].tobytes() == alone.tobytes(), (context, context_word)


def test_different_words_differ(digits_clean):
    for i in range(10):
        for j in range(i + 1, 10):
            assert _max_xcorr(digits_clean[i], digits_clean[j]) < 0.8, (DIGIT_WORDS[i], DIGIT_WORDS[j])


@pytest.mark.parametrize("snr_db", [10.0, 20.0, 30.0])
def test_noise_matches_requested_snr(snr_db):
    words = ["zero", "three", "six", "eight"]
    voices = voice_variants()[:4]
    clean = synthesize(words, [SpeechStyle(v, 170, 50, CLEAN) for v in voices], rng=np.random.default_rng(5))
    noisy = synthesize(words, [SpeechStyle(v, 170, 50, snr_db) for v in voices], rng=np.random.default_rng(5))
    for x, y in zip(clean.astype(np.float64), noisy.astype(np.float64)):
        # The noisy row may be scaled down as a whole to stay within [-1, 1];
        # regress it on the clean row to undo that before isolating the noise.
        gain = np.dot(y, x) / np.dot(x, x)
        noise = y - gain * x
        speech_power = gain**2 * np.mean(x[_span(x)] ** 2)
        measured = 10 * np.log10(speech_power / np.mean(noise**2))
        assert abs(measured - snr_db) < 0.5


def test_utterances_carry_speech_energy_and_are_centred(digits_clean):
    frame = SR // 100
    for word, row in zip(DIGIT_WORDS, digits_clean):
        span = _span(row)
        utterance = row[span]
        assert 0.15 <= len(utterance) / SR <= 0.9, word
        assert abs((span.start + span.stop) / 2 - N / 2) <= frame, word
        assert np.sqrt(np.mean(utterance**2)) > 0.05, word
        frames = utterance[: len(utterance) // frame * frame].reshape(-1, frame)
        rms = np.sqrt(np.mean(frames**2, axis=1))
        assert np.sum(rms > 0.1 * rms.max()) >= 10, word  # >= 100 ms within 20 dB of the peak


def test_speech_stands_well_above_noise_floor_at_high_snr(digits_clean):
    noisy = synthesize(list(DIGIT_WORDS), [SpeechStyle("en-us+m1", 170, 50, 30.0)] * 10,
                       rng=np.random.default_rng(9))
    for clean_row, row in zip(digits_clean, noisy):
        span = _span(clean_row)
        floor = np.sqrt(np.mean(row[: span.start] ** 2))
        assert np.sqrt(np.mean(row[span] ** 2)) > 10 * floor  # > 20 dB


def test_sample_rate_changes_resolution_not_duration(digits_clean):
    style = SpeechStyle("en-us+m1", 170, 50, CLEAN)
    wide = synthesize(list(DIGIT_WORDS), [style] * 10, sample_rate=16000, num_samples=16000,
                      rng=np.random.default_rng(0))
    for row8, row16 in zip(digits_clean, wide):
        s8, s16 = _span(row8), _span(row16)
        assert abs((s8.stop - s8.start) / 8000 - (s16.stop - s16.start) / 16000) < 0.02


def test_long_utterance_is_cut_to_num_samples():
    y = synthesize(["seven"], [SpeechStyle("en+m2", 80, 50, CLEAN)], num_samples=1000,
                   rng=np.random.default_rng(0))
    assert y.shape == (1, 1000)
    assert np.count_nonzero(y) > 900


def test_invalid_inputs_are_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        synthesize(["one"], [], rng=rng)
    with pytest.raises(ValueError):
        synthesize(["one"], [SpeechStyle("en", 170, 50, 20.0)], rng=rng)
    with pytest.raises(ValueError):
        synthesize(["one"], [SpeechStyle("en+no-such-variant", 170, 50, 20.0)], rng=rng)
    with pytest.raises(ValueError):
        synthesize(["one"], [SpeechStyle("xx-nowhere+m1", 170, 50, 20.0)], rng=rng)
    with pytest.raises(ValueError):
        SpeechStyle("en+m1", 500, 50, 20.0)
    with pytest.raises(ValueError):
        SpeechStyle("en+m1", 170, 101, 20.0)


def test_unloadable_library_raises_runtime_error(monkeypatch):
    monkeypatch.setattr(espeak.espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(RuntimeError, match="could not load libespeak-ng"):
        espeak.Engine()


@pytest.mark.parametrize("source", ["digits", "numbers"])
@pytest.mark.parametrize("options,says", [
    ({"rate_wpm": [200, 120]}, "rate_wpm: low 200 is above high 120"),
    ({"rate_wpm": [60, 120]}, "outside espeak's 80..450"),
    ({"pitch": [0, 120]}, "pitch: [0, 120] is outside espeak's 0..100"),
    ({"noise_snr_db": [20, 10]}, "noise_snr_db: low 20.0 is above high 10.0"),
])
def test_both_speech_sources_check_style_ranges_alike(source, options, says):
    from semcom_sim.data import SOURCES

    with pytest.raises(ValueError) as err:
        SOURCES[source](**options)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_voice_overlays_of_ended_processes_are_removed(tmp_path, monkeypatch):
    """An interrupted CLI ends by os._exit, which skips the TemporaryDirectory clean-up: each left
    its 1 MB voice overlay in the temporary folder."""
    import subprocess
    import sys
    import tempfile

    from semcom_sim.data.espeak import new_overlay_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"semcom-espeak-{dead}-abc").mkdir()
    (tmp_path / f"semcom-espeak-{dead}-abc" / "voice").write_text("x")
    alive = tmp_path / f"semcom-espeak-{os.getppid()}-def"  # a process that still runs
    alive.mkdir()
    unknown = tmp_path / "semcom-espeak-ab12cd"  # no pid in its name: not ours to judge
    unknown.mkdir()
    overlay = new_overlay_dir()
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [alive.name, unknown.name, Path(overlay.name).name])
        assert Path(overlay.name).name.startswith(f"semcom-espeak-{os.getpid()}-")
    finally:
        overlay.cleanup()
