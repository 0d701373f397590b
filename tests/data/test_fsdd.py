"""FSDD reader on the real 3,000 recordings (skipped without the shared copy) and on written WAVs."""
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from semcom_sim.data.fsdd import load_fsdd, speaker_split

FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}


@pytest.fixture(scope="module")
def rec():
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD} (the shared test data copy)")
    return load_fsdd(FSDD)


def _row(rec, digit: int, speaker: str, take: int) -> np.ndarray:
    (i,) = np.flatnonzero((rec.labels == digit) & (np.array(rec.speakers) == speaker) & (rec.takes == take))
    return rec.waves[i]


def test_counts_shapes_and_range(rec):
    assert rec.waves.shape == (3000, 8000) and rec.waves.dtype == np.float32
    assert rec.labels.dtype == np.int64 and rec.takes.dtype == np.int64
    assert np.bincount(rec.labels).tolist() == [300] * 10
    assert set(rec.speakers) == SPEAKERS and len(rec.speakers) == 3000
    assert sorted(set(rec.takes.tolist())) == list(range(50))
    assert -1.0 <= rec.waves.min() and rec.waves.max() <= 1.0


def test_sorted_by_digit_speaker_take(rec):
    keys = list(zip(rec.labels.tolist(), rec.speakers, rec.takes.tolist()))
    assert keys == sorted(keys)
    assert keys[0] == (0, "george", 0) and keys[-1] == (9, "yweweler", 49)


def test_short_file_is_centred_scaled_int16(rec):
    rate, pcm = wavfile.read(FSDD / "7_jackson_32.wav")
    assert rate == 8000 and pcm.dtype == np.int16 and len(pcm) == 4301
    row = _row(rec, 7, "jackson", 32)
    offset = (8000 - 4301) // 2
    assert np.array_equal(row[offset: offset + 4301], pcm.astype(np.float32) / 32768.0)
    assert not row[:offset].any() and not row[offset + 4301:].any()


def test_long_file_keeps_its_middle(rec):
    _, pcm = wavfile.read(FSDD / "9_theo_16.wav")
    assert len(pcm) == 18262
    start = (18262 - 8000) // 2
    assert np.array_equal(_row(rec, 9, "theo", 16), pcm[start: start + 8000].astype(np.float32) / 32768.0)


def test_speaker_split_holds_out_every_recording_of_a_speaker(rec):
    train, test = speaker_split(rec.speakers, ["theo"])
    assert len(test) == 500 and len(train) == 2500
    assert {rec.speakers[i] for i in test} == {"theo"}
    assert "theo" not in {rec.speakers[i] for i in train}
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(3000))
    assert np.bincount(rec.labels[test]).tolist() == [50] * 10


def test_speaker_split_two_speakers_and_unknown():
    speakers = ("a", "b", "c", "a", "c")
    train, test = speaker_split(speakers, {"a", "c"})
    assert train.tolist() == [1] and test.tolist() == [0, 2, 3, 4]
    assert train.dtype == np.int64 and test.dtype == np.int64
    with pytest.raises(ValueError, match="'d'"):
        speaker_split(speakers, ["d"])


def test_missing_or_empty_directory_names_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_fsdd(missing)
    (tmp_path / "readme.txt").write_text("no recordings here")
    (tmp_path / "7_jackson.wav").write_bytes(b"")  # no take: does not match the pattern
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_fsdd(tmp_path)


def test_other_rate_is_resampled_and_odd_names_skipped(tmp_path):
    t = np.arange(1600) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "3_ann_0.wav", 16000, tone)
    wavfile.write(tmp_path / "2_bob_11.wav", 8000, np.full(100, -32768, dtype=np.int16))
    wavfile.write(tmp_path / "2_bob_2.wav", 8000, np.full(100, 16384, dtype=np.int16))
    wavfile.write(tmp_path / "notes_3.wav", 8000, tone)
    rec = load_fsdd(tmp_path, num_samples=1000)
    assert rec.labels.tolist() == [2, 2, 3]
    assert rec.speakers == ("bob", "bob", "ann")
    assert rec.takes.tolist() == [2, 11, 0]  # takes sort as numbers, not as text
    assert rec.waves.shape == (3, 1000)
    assert np.array_equal(rec.waves[0, 450:550], np.full(100, 0.5, dtype=np.float32))
    assert np.array_equal(rec.waves[1, 450:550], np.full(100, -1.0, dtype=np.float32))
    # 1,600 samples at 16 kHz are 800 at 8 kHz, centred in 1,000: 100 zeros each side
    resampled = rec.waves[2]
    assert not resampled[:100].any() and not resampled[900:].any()
    assert np.abs(resampled[300:700]).max() == pytest.approx(0.5, abs=0.02)
