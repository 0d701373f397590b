"""The ``numbers`` source: 0..99 as two handwritten digits, a spoken number and a caption, with
disjoint train/test pools; checked on tiny configurations (a few hundred instances)."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.data import SOURCES
from semcom_sim.data.numbers import (NUMBER_TEMPLATES, PARTIAL_TEMPLATES, NumbersSource, SPOKEN, WRITTEN,
                                     caption_fields, captions, digit_sets, number_words)
from semcom_sim.data.pools import sklearn_digit_split
from semcom_sim.data.speech import voice_variants

FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"
TF = 1 / 3  # 300 instances: 200 train / 100 test, every number twice in train and once in test
SMALL = {"instances": 300}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("numbers-cache")


@pytest.fixture(scope="module")
def loaded(cache):
    src = NumbersSource(**SMALL)
    return src, *src.load(cache, 0, TF)


def _digit_images():
    pixels, labels, pool_test = sklearn_digit_split(0, TF)
    return {p.tobytes(): i for i, p in enumerate(pixels)}, labels, pool_test


def test_words_and_captions():
    assert [number_words(n) for n in (0, 7, 10, 13, 20, 42, 99)] == [
        "zero", "seven", "ten", "thirteen", "twenty", "forty two", "ninety nine"]
    assert (WRITTEN[42], SPOKEN[42], WRITTEN[70]) == ("forty-two", "forty two", "seventy")
    fill = {n: [t.format(w=WRITTEN[n], d=n, **caption_fields(n)) for t in NUMBER_TEMPLATES] for n in (7, 42)}
    assert {"forty-two", "the number 42", "a 4 and a 2", "someone saying forty two", "the digits 4 2"} <= set(fill[42])
    assert {"seven", "the number 7", "just a 7", "the digit 7"} <= set(fill[7])
    assert not any("  " in c for c in fill[7] + fill[42])
    assert np.argwhere(digit_sets(np.array([7, 42, 44, 0, 10]))).tolist() == [[0, 7], [1, 2], [1, 4], [2, 4], [3, 0],
                                                                             [4, 0], [4, 1]]


def test_shapes_dtypes_labels_and_every_class(loaded):
    src, train, test = loaded
    assert (len(train), len(test)) == src.instance_counts(TF) == (200, 100)
    assert train.class_names == tuple(str(n) for n in range(100))
    for data, n in ((train, 200), (test, 100)):
        x = data.inputs
        assert x["image"].shape == (n, 1, 8, 16) and x["image"].dtype == torch.float32
        assert float(x["image"].min()) == 0.0 and float(x["image"].max()) == 1.0
        assert x["audio"].shape == (n, 14000) and x["audio"].dtype == torch.float32
        assert torch.isfinite(x["audio"]).all() and float(x["audio"].abs().max()) <= 1.0
        assert x["text"].shape == (n, 16) and x["text"].dtype == torch.int64
        assert data.labels.dtype == torch.int64 and data.labels.shape == (n,)
        # every number, equally often
        assert np.bincount(data.labels.numpy(), minlength=100).tolist() == [n // 100] * 100
    assert {m: tuple(x.shape[1:]) for m, x in train.inputs.items()} == src.input_shapes()
    assert train.raw_sizes == {"image": 128, "audio": 14000, "text": 16}


def test_images_are_the_digits_of_the_number_and_the_pools_are_disjoint(cache):
    train, test = NumbersSource(image_noise=0.0, **SMALL).load(cache, 0, TF)  # the digits before the noise
    index, digit, pool_test = _digit_images()
    used = {}
    for split, data in (("train", train), ("test", test)):
        images = data.inputs["image"].numpy()[:, 0]
        used[split] = set()
        for img, n in zip(images, data.labels.tolist()):
            right = index[img[:, 8:].tobytes()]  # KeyError: not one of scikit-learn's digits
            assert digit[right] == n % 10 and pool_test[right] == (split == "test")
            used[split].add(right)
            if n < 10:
                assert not img[:, :8].any()  # blank left half, no leading zero
            else:
                left = index[img[:, :8].tobytes()]
                assert digit[left] == n // 10 and pool_test[left] == (split == "test")
                used[split].add(left)
    assert used["train"] and used["test"] and not used["train"] & used["test"]
    # about 2.7 digit images per two-digit number: the pools are walked, not one image repeated
    assert len(used["train"]) > 300 and len(used["test"]) > 150


def _fill(n: int, templates) -> set[str]:
    return {t.format(w=WRITTEN[n], d=n, **caption_fields(n)) for t in templates}


def test_partial_captions_name_the_decade_or_the_last_digit_only():
    assert {"a number in the forties", "a number ending in 2", "something that ends with two"} <= _fill(42, PARTIAL_TEMPLATES)
    assert {"a number below ten", "a number in the teens"} <= _fill(7, PARTIAL_TEMPLATES) | _fill(13, PARTIAL_TEMPLATES)
    assert "a number in the seventies" in _fill(70, PARTIAL_TEMPLATES)
    # a partial caption is shared by every number of its decade or with its last digit, never unique
    for n in (7, 13, 42, 99):
        for c in _fill(n, PARTIAL_TEMPLATES):
            assert sum(c in _fill(m, PARTIAL_TEMPLATES) for m in range(100)) >= 9, c
    numbers = np.random.default_rng(0).integers(0, 100, 20000)
    for detail in (0.0, 0.2, 1.0):
        text = captions(numbers, detail, np.random.default_rng(1))
        whole = np.mean([c in _fill(n, NUMBER_TEMPLATES) for c, n in zip(text, numbers)])
        part = np.mean([c in _fill(n, PARTIAL_TEMPLATES) for c, n in zip(text, numbers)])
        assert abs(whole - detail) < 0.015 and whole + part == 1.0  # sd of the fraction at 0.2: 0.003


def test_image_noise_sits_on_the_same_digits(loaded, cache):
    src, train, _ = loaded
    quiet, _ = NumbersSource(image_noise=0.0, **SMALL).load(cache, 0, TF)
    assert src.image_noise == 0.5 and torch.equal(quiet.labels, train.labels)
    noisy, clean = train.inputs["image"], quiet.inputs["image"]
    # N(0, 0.5) clipped to [0, 1] around pixels that are mostly 0: 0.330..0.333 over seeds 0..4
    assert 0.30 < float((noisy - clean).std()) < 0.36
    # the digits still show: a noisy image is nearest its own clean image (0.965..0.99 over seeds 0..4)
    d = torch.cdist(noisy.flatten(1), clean.flatten(1))
    assert (d.argmin(1) == torch.arange(len(d))).float().mean() > 0.85


def test_test_utterances_are_in_voices_never_heard_in_training(loaded):
    src, train, test = loaded
    styles = src.speech_styles(200, 100, np.random.default_rng([0, 2]))  # what the synthesis draws
    heard = {s.voice for s in styles[:200]}
    assert len(heard) > 10 and heard <= set(src.train_voices)
    assert {s.voice for s in styles[200:]} <= set(src.test_voices)
    assert not heard & set(src.test_voices) and len(src.train_voices) + len(src.test_voices) == len(voice_variants())
    tr = {row.tobytes() for row in train.inputs["audio"].numpy()}
    assert len(tr) == 200 and not tr & {row.tobytes() for row in test.inputs["audio"].numpy()}


def test_the_clip_holds_the_longest_number_at_the_slowest_rate():
    import math

    from semcom_sim.data.speech import SpeechStyle, synthesize

    # "seventy nine" at 120 words per minute in en-029+f4: 13,002 samples, the longest of all
    # 100 numbers x 24 voices at that rate (measured when the default length was chosen)
    styles = [SpeechStyle(v, 120, p, math.inf) for v in ("en-029+f4", "en-029+m4") for p in (25, 75)]
    rows = synthesize(["seventy nine"] * len(styles), styles, num_samples=NumbersSource().audio_samples,
                      rng=np.random.default_rng(0))
    for row in rows:
        nz = np.flatnonzero(row)
        assert nz[0] > 300 and nz[-1] < len(row) - 300  # silence left at both ends: nothing cut
        assert 11000 < nz[-1] - nz[0] + 1 < 13500


def test_same_seed_same_tensors_from_a_fresh_cache_and_from_the_cache(loaded, tmp_path, cache):
    src, train, test = loaded
    again = NumbersSource(**SMALL).load(tmp_path, 0, TF)  # synthesised anew
    cached = NumbersSource(**SMALL).load(cache, 0, TF)
    for a, b, c in zip((train, test), again, cached):
        for m in a.inputs:
            assert torch.equal(a.inputs[m], b.inputs[m]) and torch.equal(a.inputs[m], c.inputs[m]), m
        assert torch.equal(a.labels, b.labels) and torch.equal(a.labels, c.labels)
    assert len(list((tmp_path / "data").glob("numbers-audio-*.npy"))) == 1
    other, _ = NumbersSource(**SMALL).load(tmp_path, 1, TF)
    assert not torch.equal(other.labels, train.labels) and not torch.equal(other.inputs["image"], train.inputs["image"])


def test_digits_label_is_multi_hot_of_the_same_instances(loaded, cache):
    _, train, test = loaded
    src = NumbersSource(label="digits", **SMALL)
    for number, data in zip((train, test), src.load(cache, 0, TF)):
        assert data.class_names == tuple(str(d) for d in range(10))
        assert data.labels.dtype == torch.float32 and data.labels.shape == (len(number), 10)
        assert torch.equal(data.labels, torch.from_numpy(digit_sets(number.labels.numpy())))
        ones = data.labels.sum(1)
        assert set(ones.tolist()) == {1.0, 2.0}
        # 0..9 and 11, 22, ..., 99 have one digit: 19 of every 100 numbers
        assert int((ones == 1).sum()) == 19 * len(number) // 100
        assert (data.labels.sum(0) > 0).all()
        for m in data.inputs:
            assert torch.equal(data.inputs[m], number.inputs[m]), m


@pytest.mark.parametrize("instances,tf,limit,expect", [
    (300, TF, None, (200, 100)), (6250, 0.2, None, (5000, 1250)), (6250, 0.2, 300, (200, 100)),
    (6250, 0.2, 1000, (800, 200)), (300, TF, 250, (150, 100))])
def test_instance_counts(instances, tf, limit, expect):
    assert NumbersSource(instances=instances).instance_counts(tf, limit) == expect


def test_instance_counts_equal_what_load_returns_with_a_limit(cache):
    src = NumbersSource(label="digits", instances=1000)
    train, test = src.load(cache, 0, 0.2, limit=220)
    assert (len(train), len(test)) == src.instance_counts(0.2, 220) == (120, 100)
    assert (train.labels.sum(0) > 0).all() and (test.labels.sum(0) > 0).all()


@pytest.mark.parametrize("options,says", [
    ({"label": "tens"}, "label: 'tens' is not one of number, digits"),
    ({"audio": "wav"}, "audio: 'wav' is not one of espeak, fsdd"),
    ({"instances": 150}, "instances: 150 must be an integer >= 200"),
    ({"test_voices": ["en+nobody"]}, "test_voices: 'en+nobody' is not an installed voice"),
    ({"test_voices": list(voice_variants())}, "leaving none for training"),
    ({"rate_wpm": [200, 120]}, "rate_wpm: low 200 is above high 120"),
    ({"rate_wpm": [60, 120]}, "outside espeak's 80..450"),
    ({"caption_detail": 1.5}, "caption_detail: 1.5 must be a number in [0, 1]"),
    ({"image_noise": -0.1}, "image_noise: -0.1 must be a number in [0, 10]"),
    ({"image_noise": "lots"}, "image_noise: 'lots' must be a number"),
    ({"audio": "fsdd", "audio_dir": "/nonexistent/fsdd"}, "audio_dir: directory /nonexistent/fsdd does not exist"),
])
def test_bad_options_are_one_line_value_errors(options, says):
    with pytest.raises(ValueError) as err:
        NumbersSource(**options)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_sizes_that_leave_a_number_out_are_refused():
    with pytest.raises(ValueError, match="limit 150 is below 200"):
        NumbersSource().instance_counts(0.2, 150)
    with pytest.raises(ValueError, match="fewer than the 100 numbers"):
        NumbersSource(instances=400).instance_counts(0.8)


def test_fsdd_pairs_one_speaker_and_holds_out_the_test_speakers(tmp_path):
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD} (the shared test data copy)")
    from semcom_sim.data.fsdd import fit_length, read_fsdd
    from semcom_sim.data.speech import trim_silence

    src = NumbersSource(audio="fsdd", audio_dir=str(FSDD), **SMALL)
    train, test = src.load(tmp_path, 0, TF)
    waves, digits, speakers, _ = read_fsdd(FSDD)
    numbers = np.concatenate([train.labels.numpy(), test.labels.numpy()])
    tens, ones = src.recording_picks(numbers, 200, speakers, digits, 0)
    spk = np.array(speakers)
    assert (digits[ones] == numbers % 10).all() and ((tens < 0) == (numbers < 10)).all()
    two = tens >= 0
    assert (digits[tens[two]] == numbers[two] // 10).all() and (spk[tens[two]] == spk[ones[two]]).all()
    assert set(spk[ones[:200]]) == {"george", "jackson", "lucas", "nicolas", "yweweler"}
    assert set(spk[ones[200:]]) == {"theo"}
    used_tr = set(ones[:200]) | set(tens[:200][tens[:200] >= 0])
    used_te = set(ones[200:]) | set(tens[200:][tens[200:] >= 0])
    assert not used_tr & used_te
    audio = np.concatenate([train.inputs["audio"].numpy(), test.inputs["audio"].numpy()])
    for i in (0, 1, 250, 299):  # "four" "two": the trimmed recordings back to back, centred
        parts = [waves[j] for j in (tens[i], ones[i]) if j >= 0]
        expect = fit_length(np.concatenate([trim_silence(w, 8000) for w in parts]), 14000)
        np.testing.assert_array_equal(audio[i], expect)
    with pytest.raises(ValueError, match="test_speakers: \\['nobody'\\] not among"):
        NumbersSource(audio="fsdd", audio_dir=str(FSDD), test_speakers=["nobody"])


def test_a_tiny_run_learns_above_chance(write_scenario, cache, tmp_path):
    assert "numbers" in SOURCES
    raw = {
        "name": "numbers_tiny", "seed": 0, "device": "cpu", "embedding_dim": 16,
        "data": {"source": "numbers", "modalities": ["image", "audio", "text"], "test_fraction": 0.2,
                 "limit": 600, "cache_dir": str(cache)},
        "encoders": {"image": {"name": "small_cnn", "options": {"width": 8}},
                     "audio": {"name": "logmel_cnn", "options": {"width": 16}},
                     "text": {"name": "openclip_text", "options": {"width": 16, "layers": 1}}},
        "training": {"temperature": 0.3, "epochs": 8, "batch_size": 64, "lr": 0.003},
        "transmitter": {"schemes": ["conventional", "centroid"], "rfs_keep": [1.0]},
        "channel": {"presets": ["awgn"], "snr_db": [20.0], "mc_draws": 1},
    }
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(write_scenario(raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    for scheme in ("conventional", "centroid"):
        clean = next(r for r in rows if r["scheme"] == scheme and r["channel"] == "none")
        assert int(clean["n_test"]) == 120
        # chance is 0.01 (P(>= 5 of 120) by guessing: 0.003); seeds 0..3 gave 0.13..0.23
        assert 0.04 < float(clean["acc_top1"]) < 0.6, clean


def test_validate_names_the_field_of_a_bad_option(tiny_raw, write_scenario):
    raw = dict(tiny_raw, data={**tiny_raw["data"], "source": "numbers", "limit": None,
                               "options": {"label": "tens"}})
    res = CliRunner().invoke(app, ["validate", str(write_scenario(raw))])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "data.options" in res.stderr and "label: 'tens' is not one of number, digits" in res.stderr
    raw["data"] = {**raw["data"], "options": {}, "limit": 150}
    res = CliRunner().invoke(app, ["validate", str(write_scenario(raw))])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "limit 150 is below 200" in res.stderr


def test_caption_token_bound_holds(loaded):
    src, train, test = loaded
    seen = torch.unique(torch.cat([train.inputs["text"], test.inputs["text"]]))
    # every token the captions use, padding included, within the bound the budgets use (76 ids)
    assert seen.numel() <= src.caption_tokens() < 200
