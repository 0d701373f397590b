"""Hostile use of the CLI: foreign output folders, signals, kills, edited experiments, permissions.

Each test reproduces the situation and checks the one-line message, the exit code and that
nothing the user owns changed.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from conftest import hidden, one_line, snapshot
from semcom_sim.cli import app

runner = CliRunner()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _tiny(raw: dict) -> dict:
    raw["data"]["limit"] = 200
    raw["training"]["epochs"] = 2
    raw["transmitter"]["rfs_keep"] = [1.0]
    raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    return raw


def test_user_folder_holding_a_scenario_is_never_replaced(tiny_raw, tmp_path):
    """--out at the user's own folder that holds the scenario as scenario.yaml plus their files."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "scenario.yaml").write_text(yaml.safe_dump(_tiny(tiny_raw)))
    (mine / "notes.txt").write_text("three weeks of notes")
    before = snapshot(mine)
    res = runner.invoke(app, ["run", str(mine / "scenario.yaml"), "--out", str(mine)])
    assert res.exit_code == 2
    line = one_line(res.stderr)
    assert str(mine) in line and "not an earlier run's output folder" in line
    assert snapshot(mine) == before and hidden(tmp_path) == []


def test_rerun_replaces_its_own_folder_and_keeps_the_umask(tiny_raw, write_scenario, tmp_path):
    path = write_scenario(_tiny(tiny_raw))
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        assert runner.invoke(app, ["run", str(path), "--out", str(out)]).exit_code == 0
        assert (out / ".semcom-sim-run").is_file()
        assert out.stat().st_mode & 0o777 == 0o755  # mkdtemp alone would give 0700
        (out / "latent_pca.png").unlink()  # what the manifest lists may go missing: still its own
        os.umask(0o077)
        assert runner.invoke(app, ["run", str(path), "--out", str(out)]).exit_code == 0
        assert out.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)
    assert (out / "latent_pca.png").is_file() and (out / "results.csv").is_file()
    assert hidden(tmp_path) == []


def test_sweep_refuses_a_foreign_folder_and_a_file(tiny_raw, write_scenario, tmp_path):
    write_scenario(_tiny(tiny_raw), "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "grid": {"receiver.l2": [0.001]}}))
    foreign = tmp_path / "project"
    foreign.mkdir()
    (foreign / "experiment.yaml").write_text("my own experiment notes")
    before = snapshot(foreign)
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(foreign)])
    assert res.exit_code == 2 and "not an earlier sweep's output folder" in one_line(res.stderr)
    assert snapshot(foreign) == before
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(a_file)])
    assert res.exit_code == 2 and "is not a folder" in one_line(res.stderr)
    assert a_file.read_text() == "x"


def test_edited_experiment_reruns_the_changed_cells(tiny_raw, write_scenario, tmp_path):
    write_scenario(_tiny(tiny_raw), "base.yaml")
    exp = tmp_path / "exp.yaml"

    def write_exp(draws: int) -> None:
        exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "set": {"channel.mc_draws": draws},
                                       "grid": {"receiver.l2": [0.001, 0.01]}}))

    out = tmp_path / "sweep"
    write_exp(1)
    assert runner.invoke(app, ["sweep", str(exp), "--out", str(out)]).exit_code == 0
    write_exp(2)
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0
    assert res.output.count("settings changed since it ran, rerunning") == 2
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["mc_draws"] for r in rows if r["channel"] == "awgn"} == {"2"}
    assert yaml.safe_load((out / "experiment.yaml").read_text())["set"] == {"channel.mc_draws": 2}
    # unchanged again: nothing reruns
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.output.count("finished earlier, skipped") == 2


# A run in a child process whose report stage announces itself and then waits, so the test can
# signal it at exactly that point.
_PAUSED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import semcom_sim.pipeline as pipeline
    from semcom_sim.cli import main

    def paused_plot(folder, *a, **k):
        Path(sys.argv[1]).write_text(str(folder))
        time.sleep(60)

    pipeline.plot_run = paused_plot
    main(sys.argv[2:])
""")


def _start_paused(args: list[str], ready: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "SEMCOM_SIM_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", _PAUSED_RUN, str(ready), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("child never reached the report stage")
        time.sleep(0.05)


def test_sigterm_in_the_report_stage_leaves_nothing(tiny_raw, write_scenario, tmp_path):
    path = write_scenario(_tiny(tiny_raw))
    runs = tmp_path / "runs"
    ready = tmp_path / "ready"
    proc = _start_paused(["run", str(path), "--out", str(runs / "out")], ready, tmp_path / "cache")
    _wait_for(ready, proc)
    staging = Path(ready.read_text())
    assert staging.parent == runs and staging.is_dir()  # the child was writing its staging folder
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "semcom-sim: interrupted" and "Traceback" not in err
    assert list(runs.iterdir()) == []


def test_staging_folders_of_killed_runs_are_cleaned_on_start(tiny_raw, write_scenario, tmp_path):
    tiny_raw["data"]["cache_dir"] = str(tmp_path / "cache")
    write_scenario(_tiny(tiny_raw), "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "grid": {"receiver.l2": [0.001]}}))
    out = tmp_path / "sweep"
    ready = tmp_path / "ready"
    proc = _start_paused(["sweep", str(exp), "--out", str(out)], ready, tmp_path / "cache")
    _wait_for(ready, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate()
    cells = out / "cells"
    assert len(hidden(cells)) == 1  # what a SIGKILL leaves behind
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    from semcom_sim.sweep import cell_name
    assert hidden(cells) == [] and (cells / cell_name({"receiver.l2": 0.001}) / "results.csv").is_file()


def test_a_live_writers_staging_folder_is_not_touched(tmp_path):
    from semcom_sim.report.folders import _new_staging, clean_stale

    mine = _new_staging(tmp_path, "out")  # this process: alive
    (mine / "partial.csv").write_text("1,2")
    assert clean_stale(tmp_path) == [] and (mine / "partial.csv").is_file()


def test_interrupt_during_start_up_is_one_line(tmp_path):
    """SIGINT while the CLI is still importing torch: one line, exit 130, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "semcom_sim.cli", "run", "scenarios/three_modality.yaml",
                             "--out", str(tmp_path / "o")], cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # importing torch alone takes longer than this
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "semcom-sim: interrupted\n"
    assert not (tmp_path / "o").exists()


def test_unwritable_out_is_refused_before_any_work(tiny_raw, write_scenario, tmp_path):
    cache = tmp_path / "cache"
    tiny_raw["data"]["cache_dir"] = str(cache)
    path = write_scenario(_tiny(tiny_raw))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = runner.invoke(app, ["run", str(path), "--out", str(blocker / "out")])
    assert res.exit_code == 2 and "is not a folder" in one_line(res.stderr)
    assert not cache.exists()  # refused before data synthesis or training
    if not IS_ROOT:  # root writes anywhere: this variant needs an ordinary user
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            res = runner.invoke(app, ["run", str(path), "--out", str(ro / "out")])
        finally:
            ro.chmod(0o755)
        assert res.exit_code == 2 and "not writable" in one_line(res.stderr)
        assert not cache.exists()
