"""Nothing lost, nothing silently wrong: output folders (manifest, move into place, symbolic links,
the working folder, full disks), sweep cells (unique folders, verified before they are trusted),
cache entries (their key, a folder in their place, a full disk), interrupts at any instant.

Each test reproduces a case a hostile user found and checks the one-line message, the exit code,
and that nothing the user owns changed.
"""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import hidden, one_line, snapshot
from semcom_sim.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="session")
def emb_npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("emb") / "e.npz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_embeddings_example.py"), "--out", str(path)],
                   check=True, capture_output=True)
    return path


@pytest.fixture
def emb_scenario(emb_npz, tmp_path) -> Path:
    """The embeddings example (nothing trained) at one SNR point: a run takes a few seconds."""
    raw = yaml.safe_load((REPO / "scenarios" / "embeddings_example.yaml").read_text())
    raw["device"] = "cpu"
    raw["data"]["options"]["npz_path"] = str(emb_npz)
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["transmitter"]["rfs_keep"] = [1.0]
    raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(scenario: Path, out, *extra: str):
    return runner.invoke(app, ["run", str(scenario), "--out", str(out), *extra])


# --------------------------------------------------------------------------- the manifest

def test_a_file_the_user_added_to_an_earlier_run_blocks_the_rerun(emb_scenario, tmp_path):
    out = tmp_path / "o"
    assert _run(emb_scenario, out).exit_code == 0
    (out / "notes.txt").write_text("x")
    (out / "mine").mkdir()
    before = snapshot(out)
    res = _run(emb_scenario, out)
    assert res.exit_code == 2
    assert one_line(res.stderr) == (f"semcom-sim: {out}: holds notes.txt, mine, which semcom-sim did not write; "
                                     "nothing was touched: move it out or choose another --out")
    assert snapshot(out) == before and hidden(tmp_path) == []


def test_a_folder_marked_by_an_older_version_is_refused(emb_scenario, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".semcom-sim-run").write_text("written by semcom-sim: it may replace this run folder\n")
    (out / "results.csv").write_text("scheme\n")
    before = snapshot(out)
    res = _run(emb_scenario, out)
    assert res.exit_code == 2 and "older semcom-sim" in one_line(res.stderr)
    assert snapshot(out) == before


def test_manifest_lists_every_file_with_its_checksum(emb_scenario, tmp_path):
    from semcom_sim.report.folders import damage, read_manifest

    out = tmp_path / "o"
    assert _run(emb_scenario, out).exit_code == 0
    listed = read_manifest(out)
    assert set(listed) == {p.name for p in out.iterdir() if p.name != ".semcom-sim-run"}
    assert {"results.csv", "summary.json", "scenario.yaml"} <= set(listed) and damage(out) is None
    (out / "results.csv").write_text("")
    assert damage(out) == "results.csv changed since it was written"
    (out / "results.csv").unlink()
    assert damage(out) == "results.csv is missing"


# --------------------------------------------------------------------------- moving into place

# A run in a child process that stops at a chosen point of the move into place, announces it in
# the file argv[1], and waits there for the test's signal.
_PAUSED_MOVE = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import semcom_sim.report.atomic as atomic

    ready, where = Path(sys.argv[1]), sys.argv[2]

    def pause():
        ready.write_text("here")
        time.sleep(120)

    real_exchange, real_rename = atomic.exchange, Path.rename
    if where == "before-exchange":
        atomic.exchange = lambda a, b: (pause(), real_exchange(a, b))[1]
    elif where == "after-exchange":
        atomic.exchange = lambda a, b: (real_exchange(a, b), pause())[0]
    else:  # between the two renames of a file system that cannot exchange
        atomic.exchange = lambda a, b: False
        def rename(self, target):
            result = real_rename(self, target)
            if Path(target).name == "old":
                pause()
            return result
        Path.rename = rename
    from semcom_sim.cli import main
    main(sys.argv[3:])
""")


def _paused_run(scenario: Path, out: Path, where: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_MOVE, str(ready), where, "run", str(scenario),
                             "--out", str(out), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    t0 = time.monotonic()
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.communicate()}")
        if time.monotonic() - t0 > 180:
            proc.kill()
            raise AssertionError("child never reached the move into place")
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("where, sig", [
    ("before-exchange", signal.SIGINT), ("before-exchange", signal.SIGKILL),
    ("after-exchange", signal.SIGTERM), ("after-exchange", signal.SIGKILL),
    ("between-renames", signal.SIGINT), ("between-renames", signal.SIGKILL),
])
@pytest.mark.slow  # six child processes, each a full run stopped at one rename
def test_an_interrupt_while_moving_into_place_keeps_old_or_new(emb_scenario, tmp_path, where, sig):
    """The issue's case: an interrupt between the two renames lost o/ and the next run deleted the
    old results. Now the target holds the old or the new run at every instant, and the next run
    puts back a folder a killed writer had parked."""
    from semcom_sim.report.folders import damage

    out = tmp_path / "o"
    assert _run(emb_scenario, out).exit_code == 0
    old = (out / "summary.json").read_bytes()
    proc = _paused_run(emb_scenario, out, where, tmp_path, "--set", "seed=7")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "semcom-sim: interrupted", err
        assert "Traceback" not in err
    new_in_place = where == "after-exchange"
    if where == "between-renames" and sig == signal.SIGKILL:
        assert not out.exists()  # the killed writer had parked it; the next writer puts it back
        from semcom_sim.report.folders import clean_stale
        clean_stale(tmp_path)
    assert damage(out) is None
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["scenario"], (out / "summary.json").read_bytes() == old) == ("embeddings_example", not new_in_place)
    # the next run leaves nothing hidden behind and replaces the folder as usual
    assert _run(emb_scenario, out).exit_code == 0
    assert hidden(tmp_path) == [] and damage(out) is None


@pytest.mark.slow  # runs signalled at random instants, each a child process
def test_a_signal_at_a_random_instant_keeps_old_or_new(emb_scenario, tmp_path):
    from semcom_sim.report.folders import damage

    out = tmp_path / "o"
    assert _run(emb_scenario, out).exit_code == 0
    old = (out / "summary.json").read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "semcom_sim.cli", "run", str(emb_scenario), "--out", str(out)]
    t0 = time.monotonic()
    subprocess.run(args, env=env, capture_output=True, check=True)
    span = time.monotonic() - t0
    rng = random.Random(0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.2, 1.0) * span)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err
        # the run before this one, or this one complete: every file as the manifest lists it
        assert damage(out) is None and json.loads((out / "summary.json").read_text())["scenario"]
    assert (out / "summary.json").read_bytes() != old or proc.returncode != 0


# --------------------------------------------------------------------------- symbolic links, the working folder

def test_a_symbolic_link_as_out_is_followed_and_kept(emb_scenario, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    link = tmp_path / "link"
    link.symlink_to(empty)
    assert _run(emb_scenario, link).exit_code == 0
    assert link.is_symlink() and (empty / "results.csv").is_file()
    # a link to an earlier run: that run is replaced, the link stays
    first = (empty / "summary.json").read_bytes()
    assert _run(emb_scenario, link, "--set", "seed=5").exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(empty) and (empty / "summary.json").read_bytes() != first
    assert hidden(tmp_path) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    res = _run(emb_scenario, dangling)
    assert res.exit_code == 2 and "which does not exist" in one_line(res.stderr)
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()


def test_compare_follows_a_symbolic_link_to_its_own_figure(emb_scenario, tmp_path):
    out = tmp_path / "o"
    assert _run(emb_scenario, out).exit_code == 0
    figures = tmp_path / "figures"
    figures.mkdir()
    link = tmp_path / "fig.png"
    link.symlink_to(figures / "c.png")
    for _ in range(2):  # a new figure, then over its own one
        res = runner.invoke(app, ["compare", str(out), "--out", str(link)])
        assert res.exit_code == 0, res.output
        assert link.is_symlink() and (figures / "c.png").is_file()


@pytest.mark.parametrize("inside_run", [False, True])
def test_the_working_folder_as_out_is_refused_before_any_work(emb_scenario, tmp_path, monkeypatch, inside_run):
    here = tmp_path / "here"
    if inside_run:
        assert _run(emb_scenario, here).exit_code == 0
    else:
        here.mkdir()
    before = snapshot(here)
    monkeypatch.chdir(here)
    for out in (".", ""):
        res = _run(emb_scenario, out)
        assert res.exit_code == 2
        assert "is the working folder or holds it" in one_line(res.stderr)
    monkeypatch.chdir(tmp_path)
    assert snapshot(here) == before and hidden(here) == ([".semcom-sim-run"] if inside_run else [])
    assert (tmp_path / "cache").exists() == inside_run  # refused before any data was read


def test_out_overlapping_the_cache_is_refused_before_any_work(emb_scenario, tmp_path):
    """The issue's case: --out equal to a cache folder not made yet failed after the whole run."""
    cache = tmp_path / "cache"  # emb_scenario's data.cache_dir, not made yet
    for out, extra in ((cache, []), (cache / "sub", []), (tmp_path / "q", [f"data.cache_dir={tmp_path / 'q' / 'c'}"])):
        res = _run(emb_scenario, out, *[a for e in extra for a in ("--set", e)])
        assert res.exit_code == 2, out
        assert "overlaps the cache folder" in one_line(res.stderr)
        assert not out.exists()
    assert not cache.exists()


# --------------------------------------------------------------------------- full disks

@pytest.fixture
def tiny_disk(tmp_path):
    """A 96 KiB file system: an ordinary run's outputs do not fit. Needs root and a mountable tmpfs."""
    if not IS_ROOT:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_for_the_output_is_one_line_and_leaves_nothing(emb_scenario, tiny_disk):
    res = _run(emb_scenario, tiny_disk / "o")
    assert res.exit_code == 2 and "Traceback" not in res.output + res.stderr
    line = res.stderr.strip().splitlines()[-1]  # after the progress lines of the stages that ran
    assert line == (f"semcom-sim: {tiny_disk / 'o'}: cannot write the output folder (No space left on device); "
                    "nothing was changed: free some space or choose another --out")
    assert list(tiny_disk.iterdir()) == []


def test_a_full_disk_for_the_encoder_cache_is_a_warning(tiny_raw, write_scenario, tiny_disk, tmp_path, caplog):
    tiny_raw.update(embedding_dim=16)
    tiny_raw["data"]["cache_dir"] = str(tiny_disk)
    tiny_raw["data"]["limit"] = 200
    tiny_raw["training"]["epochs"] = 1
    tiny_raw["encoders"]["image"]["options"]["width"] = 64  # an entry larger than the disk
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    res = _run(write_scenario(tiny_raw), tmp_path / "o")
    assert res.exit_code == 0, res.output + res.stderr
    assert "could not write cache entry" in caplog.text and "continuing without caching it" in caplog.text
    assert "Traceback" not in res.output + res.stderr + caplog.text
    assert not [p for p in (tiny_disk / "encoders").iterdir() if p.suffix == ".pt"]
    assert (tmp_path / "o" / "results.csv").is_file()


# --------------------------------------------------------------------------- cache entries

def test_a_valid_entry_under_another_keys_name_is_not_loaded(tmp_path, caplog):
    from semcom_sim.cache import InvalidEntry, load_or_build, read_entry, write_entry

    a, b = tmp_path / "aaaa.pt", tmp_path / "bbbb.pt"
    write_entry(a, b"encoders of key a", lambda v, f: f.write(v))
    shutil.copyfile(a, b)  # its checksum is fine
    with pytest.raises(InvalidEntry, match="it is the entry 'aaaa.pt', not 'bbbb.pt'"):
        read_entry(b, lambda f: f.read())
    value, cached = load_or_build(b, lambda: b"encoders of key b", lambda v, f: f.write(v), lambda f: f.read())
    assert (value, cached) == (b"encoders of key b", False)
    assert "copied or renamed" in caplog.text
    assert read_entry(b, lambda f: f.read()) == b"encoders of key b"


def test_encoders_copied_under_another_keys_name_are_retrained(tiny_raw, write_scenario, tmp_path, caplog):
    """The issue's case: another scenario's encoders, copied under this scenario's key, were loaded."""
    from semcom_sim.scenario import load_scenario
    from semcom_sim.training.trainer import encoder_cache_path

    cache = tmp_path / "cache"
    tiny_raw["data"]["cache_dir"] = str(cache)
    tiny_raw["data"]["limit"] = 200
    tiny_raw["training"]["epochs"] = 2
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    path = write_scenario(tiny_raw)
    assert _run(path, tmp_path / "a").exit_code == 0
    a = encoder_cache_path(load_scenario(path, []), cache, path)
    b = encoder_cache_path(load_scenario(path, ["training.temperature=0.05"]), cache, path)
    assert a != b and a.is_file() and not b.exists()
    shutil.copyfile(a, b)
    res = _run(path, tmp_path / "b", "--set", "training.temperature=0.05")
    assert res.exit_code == 0
    assert "copied or renamed" in caplog.text
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["encoders_cached"] is False and summary["encoders_cache_key"] == b.stem


def test_a_folder_in_an_entrys_place(tmp_path):
    from semcom_sim.cache import load_or_build
    from semcom_sim.errors import UserError

    entry = tmp_path / "k.pt"
    entry.mkdir()  # empty: healed
    args = (lambda: b"v", lambda v, f: f.write(v), lambda f: f.read())
    assert load_or_build(entry, *args) == (b"v", False) and entry.is_file()
    entry.unlink()
    entry.mkdir()
    (entry / "someone's.txt").write_text("x")
    with pytest.raises(UserError, match="is a folder, not a cache entry, and it is not empty") as e:
        load_or_build(entry, *args)
    assert "\n" not in str(e.value) and (entry / "someone's.txt").read_text() == "x"


# --------------------------------------------------------------------------- sweeps

def test_cells_whose_names_squash_alike_get_folders_of_their_own(emb_npz, tmp_path):
    """The issue's case: /x/d/e.npz and /x/d_e.npz made one folder and one file's numbers twice."""
    from semcom_sim.sweep import cell_name

    (tmp_path / "d").mkdir()
    shutil.copyfile(emb_npz, tmp_path / "d" / "e.npz")
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_embeddings_example.py"), "--out",
                    str(tmp_path / "d_e.npz"), "--seed", "1", "--n", "300"], check=True, capture_output=True)
    grid = [str(tmp_path / "d" / "e.npz"), str(tmp_path / "d_e.npz")]
    names = [cell_name({"data.options.npz_path": v}) for v in grid]
    assert names[0] != names[1] and names[0].rsplit("-", 1)[0] == names[1].rsplit("-", 1)[0]
    assert cell_name({"data.options.npz_path": grid[0]}) == names[0]  # stable: a rerun finds its cells
    assert len(cell_name({"x": "y" * 1000})) < 120

    raw = yaml.safe_load((REPO / "scenarios" / "embeddings_example.yaml").read_text())
    raw.update(device="cpu")
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["transmitter"]["rfs_keep"] = [1.0]
    raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw))
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "grid": {"data.options.npz_path": grid}}))
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output + res.stderr
    for value, name in zip(grid, names):
        saved = yaml.safe_load((tmp_path / "s" / "cells" / name / "scenario.yaml").read_text())
        assert saved["data"]["options"]["npz_path"] == value
    rows = list(csv.DictReader(open(tmp_path / "s" / "results.csv")))
    n_test = {r["npz_path"]: r["n_test"] for r in rows}
    assert n_test == {grid[0]: "120", grid[1]: "60"}  # each file's own numbers (600 and 300 instances)


def test_a_damaged_finished_cell_is_rerun(emb_scenario, tmp_path):
    """The issue's case: an emptied results.csv counted as finished and dropped out of the tables
    (n_seeds 1 instead of 2); a missing or truncated summary.json was a traceback."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": emb_scenario.name, "grid": {"seed": [0, 1, 2]}}))
    out = tmp_path / "s"
    assert runner.invoke(app, ["sweep", str(exp), "--out", str(out)]).exit_code == 0
    cells = sorted((out / "cells").iterdir())
    combined = (out / "results.csv").read_bytes()
    (cells[0] / "results.csv").write_text("")
    summary = cells[1] / "summary.json"
    summary.write_text(summary.read_text()[:50])
    (cells[2] / "summary.json").unlink()
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "results.csv changed since it was written, rerunning" in res.output
    assert "summary.json changed since it was written, rerunning" in res.output
    assert "summary.json is missing, rerunning" in res.output
    assert (out / "results.csv").read_bytes() == combined
    rows = list(csv.DictReader(open(out / "accuracy_over_seeds.csv")))
    assert rows and {r["n_seeds"] for r in rows} == {"3"}


def test_sweep_with_a_file_as_cache_leaves_no_sweep_folder(emb_scenario, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": emb_scenario.name, "grid": {"seed": [0]}}))
    a_file = tmp_path / "cachefile"
    a_file.write_text("mine")
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "s"), "--cache", str(a_file)])
    assert res.exit_code == 2 and "cache folder is not writable" in one_line(res.stderr)
    assert not (tmp_path / "s").exists() and a_file.read_text() == "mine"
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "s"), "--cache", str(tmp_path / "s" / "c")])
    assert res.exit_code == 2 and "overlaps the cache folder" in one_line(res.stderr)
    assert not (tmp_path / "s").exists()


def test_a_grid_key_named_like_a_results_column_keeps_its_full_name(emb_scenario, tmp_path):
    """A grid over transmitter.rfs_keep made two rfs_keep columns in the combined results.csv."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": emb_scenario.name,
                                   "grid": {"transmitter.rfs_keep": [[1.0], [0.5]], "seed": [0]}}, sort_keys=False))
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output + res.stderr
    with open(tmp_path / "s" / "results.csv") as f:
        header = next(csv.reader(f))
    assert len(header) == len(set(header)) and header[:2] == ["transmitter.rfs_keep", "seed"]
    rows = list(csv.DictReader(open(tmp_path / "s" / "results.csv")))
    assert {(r["transmitter.rfs_keep"], r["rfs_keep"]) for r in rows} == {("[1.0]", "1"), ("[0.5]", "0.5")}


def test_a_name_too_long_for_its_staging_folder_is_refused_before_any_work(emb_scenario, tmp_path):
    out = tmp_path / ("a" * 240)  # a legal name, but ".<name>.<random>.semcom-tmp" beside it is not
    res = _run(emb_scenario, out)
    assert res.exit_code == 2 and "choose a shorter --out" in one_line(res.stderr)
    assert not (tmp_path / "cache").exists() and hidden(tmp_path) == []


def test_a_newline_in_a_path_keeps_the_error_on_one_line(emb_scenario, tmp_path):
    mine = tmp_path / "my\nfolder"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    res = _run(emb_scenario, mine)
    assert res.exit_code == 2
    assert one_line(res.stderr).startswith(f"semcom-sim: {tmp_path}/my\\nfolder: is not empty")


@pytest.mark.slow  # a sweep signalled at random instants, each a child process, then rerun
def test_a_sweep_signalled_at_random_instants_then_rerun_gives_the_undisturbed_tables(emb_scenario, tmp_path):
    from semcom_sim.report.folders import damage

    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": emb_scenario.name, "grid": {"seed": [0, 1, 2]}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = [sys.executable, "-m", "semcom_sim.cli", "sweep", str(exp), "--out"]
    t0 = time.monotonic()
    subprocess.run(sweep + [str(tmp_path / "ref")], env=env, capture_output=True, check=True)
    span = time.monotonic() - t0
    out = tmp_path / "s"
    rng = random.Random(1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(sweep + [str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(rng.uniform(0.3, 1.0) * span)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err
    res = subprocess.run(sweep + [str(out)], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == 3 and all(damage(c) is None for c in cells) and hidden(out / "cells") == []
    assert (out / "results.csv").read_bytes() == (tmp_path / "ref" / "results.csv").read_bytes()
