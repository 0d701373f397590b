"""The on-disk cache: corrupted entries are discarded and rebuilt, concurrent runs build an entry
once, read-only folders give a one-line UserError, and temporaries of killed runs are removed."""
from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_sim import cache
from semcom_sim.cache import InvalidEntry, check_writable, entry_is_valid, load_or_build, read_entry, write_entry
from semcom_sim.errors import UserError

REPO = Path(__file__).resolve().parent.parent
LOGGER = "semcom_sim.cache"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes())
    elif how == "bitflip":  # same length, header intact: only the checksum can tell
        flipped = bytearray(data)
        flipped[-10] ^= 0x40
        path.write_bytes(bytes(flipped))
    else:
        raise ValueError(how)


def _discard_warnings(caplog, path: Path) -> list[str]:
    msgs = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    found = [m for m in msgs if "discarding unreadable cache entry" in m]
    assert all(str(path) in m and "\n" not in m for m in found), found
    return found


# --- the generic machinery -------------------------------------------------------------------

def _bytes_entry(path: Path, payload: bytes, calls: list):
    def build():
        calls.append(1)
        return payload
    return load_or_build(path, build, lambda v, f: f.write(v), lambda f: f.read())


def test_an_entry_is_built_once_then_read(tmp_path):
    calls = []
    path = tmp_path / "sub" / "entry.bin"
    assert _bytes_entry(path, b"abc" * 1000, calls) == (b"abc" * 1000, False)
    assert _bytes_entry(path, b"other", calls) == (b"abc" * 1000, True)
    assert len(calls) == 1 and entry_is_valid(path)
    assert path.read_bytes().startswith(b"semcom-sim cache v2 key=entry.bin sha256=")
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("how", ["truncated", "empty", "random", "bitflip"])
def test_a_corrupted_entry_is_discarded_with_a_warning_and_rebuilt(tmp_path, caplog, how):
    calls = []
    path = tmp_path / "entry.bin"
    _bytes_entry(path, b"payload" * 100, calls)
    _corrupt(path, how)
    assert not entry_is_valid(path)
    with caplog.at_level(logging.WARNING, LOGGER):
        assert _bytes_entry(path, b"payload" * 100, calls) == (b"payload" * 100, False)
    assert len(_discard_warnings(caplog, path)) == 1
    assert len(calls) == 2 and entry_is_valid(path)


def test_load_never_sees_bytes_that_fail_the_checksum(tmp_path):
    path = tmp_path / "entry.bin"
    write_entry(path, b"x" * 100, lambda v, f: f.write(v))
    _corrupt(path, "bitflip")
    seen = []
    with pytest.raises(InvalidEntry, match="checksum"):
        read_entry(path, seen.append)
    assert not seen


def test_a_failed_build_leaves_nothing_behind_and_releases_the_lock(tmp_path):
    path = tmp_path / "entry.bin"

    def boom():
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        load_or_build(path, boom, lambda v, f: f.write(v), lambda f: f.read())
    assert not path.exists() and not list(tmp_path.glob("*.tmp"))
    assert _bytes_entry(path, b"ok", []) == (b"ok", False)


def test_stale_temporaries_are_removed_by_the_next_writer(tmp_path):
    path = tmp_path / "entry.bin"
    stale = [tmp_path / ".entry.bin.k1ll3d.tmp", tmp_path / ".entry.bin.x_y_z.tmp"]
    other = [tmp_path / ".other.bin.abc.tmp", tmp_path / "entry.bin.keep"]
    for p in stale + other:
        p.write_bytes(b"half-written")
    _bytes_entry(path, b"fresh", [])
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in other)  # only this entry's temporaries are known to be stale


_RACE = textwrap.dedent("""
    import hashlib, logging, os, sys, time
    from pathlib import Path
    from semcom_sim.cache import load_or_build
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    path, log, go = map(Path, sys.argv[1:4])
    def build():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
        return os.urandom(200_000)  # every builder makes a different payload
    while not go.exists():
        time.sleep(0.01)
    value, cached = load_or_build(path, build, lambda v, f: f.write(v), lambda f: f.read())
    print(cached, hashlib.sha256(value).hexdigest())
""")


def test_concurrent_runs_build_an_entry_once(tmp_path):
    path, log, go = tmp_path / "c" / "entry.bin", tmp_path / "builds.log", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(path), str(log), str(go)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(0.5)  # let them start; they all begin at once when ``go`` appears
    go.touch()
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    outs = [out.split() for out, _ in results]
    assert len(log.read_text().splitlines()) == 1  # exactly one build
    assert sorted(o[0] for o in outs) == ["False", "True", "True"]
    assert len({o[1] for o in outs}) == 1  # everyone got the builder's value
    assert sum("waiting for another run" in err for _, err in results) >= 1  # the wait was announced
    import hashlib
    assert read_entry(path, lambda f: hashlib.sha256(f.read()).hexdigest()) == outs[0][1]
    assert not list(path.parent.glob("*.tmp"))


def test_a_cache_below_a_file_gives_a_user_error_before_building(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    calls = []
    with pytest.raises(UserError) as err:
        _bytes_entry(blocker / "cache" / "encoders" / "k.pt", b"x", calls)
    msg = str(err.value)
    assert str(blocker / "cache" / "encoders") in msg and "not writable" in msg
    assert "data.cache_dir" in msg and "$SEMCOM_SIM_CACHE" in msg and "\n" not in msg
    assert not calls
    with pytest.raises(UserError, match="not writable"):
        check_writable(blocker / "cache")


def test_a_valid_entry_is_read_without_a_lock_or_write_access(tmp_path, monkeypatch):
    path = tmp_path / "entry.bin"
    _bytes_entry(path, b"stored", [])
    for lock in tmp_path.glob(".*.lock"):
        lock.unlink()
    import filelock

    def no_lock(*a, **k):
        raise AssertionError("a valid entry must be read without locking")

    def not_writable(folder):
        raise UserError("not writable", source=str(folder))

    monkeypatch.setattr(filelock, "FileLock", no_lock)
    monkeypatch.setattr(cache, "check_writable", not_writable)
    assert _bytes_entry(path, b"other", []) == (b"stored", True)
    assert not list(tmp_path.glob(".*.lock"))


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_a_read_only_cache_reads_valid_entries_and_refuses_to_build(tmp_path, monkeypatch, how):
    folder = tmp_path / "ro"
    _bytes_entry(folder / "have.bin", b"stored", [])
    if how == "chmod":
        if AS_ROOT:
            pytest.skip("root ignores permission bits")
        folder.chmod(0o555)
    else:  # what a read-only folder answers to creating a file, also when running as root
        def refuse(*a, **k):
            raise PermissionError(13, "Permission denied", str(folder / ".probe.tmp"))

        monkeypatch.setattr(cache.tempfile, "mkstemp", refuse)
    try:
        assert _bytes_entry(folder / "have.bin", b"other", []) == (b"stored", True)
        calls = []
        with pytest.raises(UserError) as err:
            _bytes_entry(folder / "missing.bin", b"x", calls)
        assert str(err.value) == (f"{folder}: cache folder is not writable (Permission denied); choose another "
                                  "with data.cache_dir in the scenario or $SEMCOM_SIM_CACHE")
        assert not calls
        with pytest.raises(UserError, match="not writable"):
            check_writable(folder)
    finally:
        folder.chmod(0o755)


def test_importing_the_cache_module_does_not_import_torch_or_numpy():
    code = "import sys, semcom_sim.cache; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the speech cache (digits source) --------------------------------------------------------

def _audio_path(cache_dir: Path) -> Path:
    (path,) = (cache_dir / "data").glob("digits-audio-*.npy")
    return path


@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_a_corrupted_audio_entry_is_rebuilt(tmp_path, caplog, how):
    from semcom_sim.data.digits import DigitsSource

    src, labels = DigitsSource(), np.arange(20) % 10
    clean = src._synthesised(labels, tmp_path, seed=0)
    path = _audio_path(tmp_path)
    _corrupt(path, how)
    with caplog.at_level(logging.WARNING, LOGGER):
        again = src._synthesised(labels, tmp_path, seed=0)
    assert len(_discard_warnings(caplog, path)) == 1
    np.testing.assert_array_equal(again, clean)
    np.testing.assert_array_equal(src._synthesised(labels, tmp_path, seed=0), clean)  # now from the cache
    assert entry_is_valid(path)


def test_an_audio_entry_of_the_wrong_shape_is_rebuilt(tmp_path, caplog):
    from semcom_sim.data.digits import DigitsSource

    src, labels = DigitsSource(), np.arange(20) % 10
    clean = src._synthesised(labels, tmp_path, seed=0)
    path = _audio_path(tmp_path)
    write_entry(path, clean[:5], lambda a, f: np.save(f, a))  # a valid checksum, a wrong payload
    with caplog.at_level(logging.WARNING, LOGGER):
        np.testing.assert_array_equal(src._synthesised(labels, tmp_path, seed=0), clean)
    assert "shape" in _discard_warnings(caplog, path)[0]


def test_audio_in_a_cache_below_a_file_is_a_user_error(tmp_path):
    from semcom_sim.data.digits import DigitsSource

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="not writable") as err:
        DigitsSource()._synthesised(np.arange(10), blocker / "cache", seed=0)
    assert str(blocker / "cache") in str(err.value)


_AUDIO_RACE = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import numpy as np
    from semcom_sim.data import digits
    cache_dir, log, go, ready = map(Path, sys.argv[1:5])
    real = digits.synthesize
    def logged(*a, **k):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(0.5)
        return real(*a, **k)
    digits.synthesize = logged
    ready.touch()
    while not go.exists():
        time.sleep(0.01)
    audio = digits.DigitsSource()._synthesised(np.arange(30) % 10, cache_dir, seed=3)
    print(float(np.abs(audio).sum()))
""")


def test_concurrent_runs_synthesise_the_audio_once(tmp_path):
    log, go = tmp_path / "synth.log", tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", _AUDIO_RACE, str(tmp_path / "cache"), str(log), str(go), str(r)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    # start together once both have imported torch & co (the slow part)
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.02)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert len(log.read_text().splitlines()) == 1
    assert len({out for out, _ in results}) == 1
    assert entry_is_valid(_audio_path(tmp_path / "cache"))


# --- the encoder cache -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_setup(cache_dir):
    from conftest import TINY  # tests/ is on sys.path (pytest's rootdir-less conftest import)
    from semcom_sim.scenario import Scenario
    from semcom_sim.data import SOURCES
    from semcom_sim.runtime import Runtime, stream_seed

    raw = copy.deepcopy(TINY)
    raw["data"]["cache_dir"] = str(cache_dir)
    raw["training"]["epochs"] = 1
    sc = Scenario.model_validate(raw)
    rt = Runtime.create("cpu", "float32", sc.seed)
    # as pipeline.load_data, without importing the pipeline (Sionna & co)
    train, _ = SOURCES[sc.data.source](**sc.data.options).load(
        cache_dir, stream_seed(rt.seed, "data"), sc.data.test_fraction, sc.data.limit)
    return sc, rt, train.select(sc.data.modalities).to(rt.device, rt.dtype)


def _same_weights(a, b) -> bool:
    sa, sb = a.encoders.state_dict(), b.encoders.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def clean_encoders(tiny_setup, tmp_path_factory):
    from semcom_sim.training import train_or_load

    sc, rt, train = tiny_setup
    first = train_or_load(sc, train, rt, tmp_path_factory.mktemp("enc"))
    assert not first.cached
    return first


@pytest.mark.parametrize("how", ["truncated", "empty", "random"])
def test_a_corrupted_encoder_entry_is_retrained(tiny_setup, clean_encoders, tmp_path, caplog, how):
    from semcom_sim.training import train_or_load

    sc, rt, train = tiny_setup
    path = tmp_path / "encoders" / clean_encoders.cache_path.name
    path.parent.mkdir()
    path.write_bytes(clean_encoders.cache_path.read_bytes())
    _corrupt(path, how)
    with caplog.at_level(logging.WARNING, LOGGER):
        again = train_or_load(sc, train, rt, tmp_path)
    assert len(_discard_warnings(caplog, path)) == 1
    assert not again.cached and again.cache_path == path
    assert _same_weights(again, clean_encoders) and again.history == clean_encoders.history
    reread = train_or_load(sc, train, rt, tmp_path)
    assert reread.cached and _same_weights(reread, clean_encoders)


def test_an_encoder_entry_with_other_weights_is_retrained(tiny_setup, clean_encoders, tmp_path, caplog):
    from semcom_sim.training import train_or_load

    sc, rt, train = tiny_setup
    path = tmp_path / "encoders" / clean_encoders.cache_path.name
    path.parent.mkdir()
    state = dict(clean_encoders.encoders.state_dict())
    state.pop(next(iter(state)))
    write_entry(path, {"state": state, "history": clean_encoders.history}, torch.save)
    with caplog.at_level(logging.WARNING, LOGGER):
        again = train_or_load(sc, train, rt, tmp_path)
    assert "do not match the encoders" in _discard_warnings(caplog, path)[0]
    assert not again.cached and _same_weights(again, clean_encoders)


def test_encoders_in_a_cache_below_a_file_are_a_user_error(tiny_setup, tmp_path, monkeypatch):
    from semcom_sim.training import trainer
    from semcom_sim.training.stages import contrastive

    sc, rt, train = tiny_setup
    monkeypatch.setattr(contrastive, "train", lambda *a, **k: pytest.fail("must not train"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="not writable") as err:
        trainer.train_or_load(sc, train, rt, blocker / "cache")
    assert str(blocker / "cache") in str(err.value)
