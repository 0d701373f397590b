"""The Ray executor against the local one: the same folders, one training per encoder key, a
worker killed mid-cell, a failing cell that does not stop the others."""
import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.sweep import SweepFailed, run_sweep

ray = pytest.importorskip("ray")  # in the test extras; CI installs it
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module (starting one takes seconds); the executor finds it
    running and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="error")
    yield
    ray.shutdown()


def _experiment(tmp_path: Path, tiny_raw, grid: dict, name: str = "exp.yaml", **extra) -> Path:
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tiny_raw, sort_keys=False))
    exp = tmp_path / name
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "set": {"training.epochs": 3},
                                   "grid": grid, **extra}, sort_keys=False))
    return exp


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, the run timings taken out of summary.json."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "summary.json":
                summary = json.loads(data)
                summary.pop("timings_s")
                data = json.dumps(summary, sort_keys=True).encode()
            out[str(p.relative_to(folder))] = data
    return out


@pytest.mark.slow  # the same sweep through Ray and the local executor
def test_ray_writes_the_local_executors_folders_and_trains_once_per_key(local_ray, tiny_raw, tmp_path):
    # receiver.l2 is downstream of training: 2 encoder keys, 2 cells each
    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.01, 0.3], "receiver.l2": [0.001, 0.1]})
    # separate empty encoder caches, so both executors train
    local = run_sweep(exp, tmp_path / "local", cache=tmp_path / "cache_local", log=lambda s: None)
    remote = run_sweep(exp, tmp_path / "ray", cache=tmp_path / "cache_ray", log=lambda s: None,
                       executor="ray", progress=False)
    a, b = _files(local), _files(remote)
    # scenario.yaml names the cache folder; everything else is byte for byte the same, but for the
    # manifests, which hold the checksums of scenario.yaml and summary.json (with its stage times)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and not k.endswith("/.semcom-sim-run"))
    assert differ == sorted(k for k in a if k.endswith("scenario.yaml") and k.startswith("cells/"))
    assert len(a) > 30 and any(k.endswith(".png") for k in a)
    cached = {}
    for cell in (remote / "cells").iterdir():
        s = json.loads((cell / "summary.json").read_text())
        cached.setdefault(s["encoders_cache_key"], []).append(s["encoders_cached"])
    assert sorted(sorted(v) for v in cached.values()) == [[False, True], [False, True]]


@pytest.mark.slow  # a Ray worker killed mid-cell and retried
def test_a_worker_killed_mid_cell_is_retried_and_leaves_no_half_written_folder(local_ray, tiny_raw, tmp_path):
    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.01, 0.1, 0.3]})
    cells = tmp_path / "out" / "cells"
    killed = []

    def kill_first_writer():
        # a staging folder exists while a worker writes a cell's folder: kill that worker there
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for staging in cells.glob(".*.semcom-tmp") if cells.is_dir() else ():
                try:
                    pid = json.loads((staging / ".semcom-sim-owner").read_text())["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                os.kill(pid, signal.SIGKILL)
                killed.append(staging.name)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_first_writer)
    killer.start()
    out = run_sweep(exp, tmp_path / "out", cache=tmp_path / "cache", log=lambda s: None, executor="ray",
                    progress=False)
    killer.join()
    assert killed, "no worker was caught writing a cell"
    assert sorted(p.name.rsplit("-", 1)[0] for p in cells.iterdir()) == [
        "temperature-0.01", "temperature-0.1", "temperature-0.3"]
    rows = list(csv.DictReader(open(out / "cells.csv")))
    assert len(rows) == 3 and all(float(r["acc_top1_centroid_keep1"]) > 0.5 for r in rows)
    # the killed attempt's results equal an undisturbed run's
    ref = run_sweep(exp, tmp_path / "ref", cache=tmp_path / "cache", log=lambda s: None)
    assert (ref / "results.csv").read_bytes() == (out / "results.csv").read_bytes()


def test_a_failing_cell_does_not_stop_the_others_and_a_rerun_redoes_only_it(local_ray, tiny_raw, tmp_path):
    # 1/tau overflows float32 at tau = 1e-40: the loss is nan at once, and training stops (diverged)
    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.3, 1e-40], "receiver.l2": [0.001, 0.1]})
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "out"), "--executor", "ray"])
    assert res.exit_code == 1, res.output
    assert "2 of 4 cells failed" in res.stderr and "diverged" in res.stderr
    assert "Traceback" not in res.output + res.stderr
    finished = sorted(p.name for p in (tmp_path / "out" / "cells").iterdir())
    assert len(finished) == 2 and all("1e-40" not in n for n in finished)
    assert not (tmp_path / "out" / "cells.csv").exists()  # combined outputs only from a whole grid
    mtimes = {n: (tmp_path / "out" / "cells" / n / "results.csv").stat().st_mtime_ns for n in finished}
    with pytest.raises(SweepFailed, match="2 of 2 cells failed"):  # the finished ones are not rerun
        run_sweep(exp, tmp_path / "out", executor="ray", log=lambda s: None, progress=False)
    assert mtimes == {n: (tmp_path / "out" / "cells" / n / "results.csv").stat().st_mtime_ns for n in finished}


def test_executor_options_are_checked(tiny_raw, tmp_path):
    from conftest import refused

    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.3]})
    assert "--address and --max-parallel belong to --executor ray" in refused(
        ["sweep", str(exp), "--address", "auto"])
    assert "unknown executor 'dask'" in refused(["sweep", str(exp), "--executor", "dask"])
    assert not (tmp_path / "runs").exists()


def test_without_ray_installed_the_error_says_how_to_install_it(tiny_raw, tmp_path, monkeypatch):
    import sys

    from conftest import refused

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.3]})
    line = refused(["sweep", str(exp), "--out", str(tmp_path / "o"), "--executor", "ray"])
    assert "pip install" in line and "[ray]" in line


def test_a_cell_asks_for_a_gpu_share_only_when_it_runs_on_a_gpu(tiny_raw, tmp_path):
    from semcom_sim.scenario import Scenario
    from semcom_sim.executors.ray import gpu_share
    from semcom_sim.sweep import _cell_tasks, load_experiment

    exp = _experiment(tmp_path, tiny_raw, {"device": ["cpu", "auto", "cuda"]},
                      resources={"num_cpus": 0.5, "num_gpus": 0.25})
    todo = [({"device": d}, Scenario.model_validate({**tiny_raw, "device": d})) for d in ("cpu", "auto", "cuda")]
    tasks = _cell_tasks(todo, load_experiment(exp), tmp_path / "base.yaml", tmp_path / "out", lambda s: None)
    assert [t.threads for t in tasks] == [1, 1, 1]  # half a CPU still runs one thread
    assert [gpu_share(t, cluster_gpus=0) for t in tasks] == [0.0, 0.0, 0.25]
    assert [gpu_share(t, cluster_gpus=2) for t in tasks] == [0.0, 0.25, 0.25]


def _finished(out: Path) -> set[str]:
    """Cell folders with their results (staging folders, hidden, are not cells)."""
    cells = out / "cells"
    return {p.parent.name for p in cells.glob("*/results.csv") if not p.parent.name.startswith(".")} \
        if cells.is_dir() else set()


@pytest.mark.slow  # a Ray sweep interrupted in a child process, then rerun
def test_ctrl_c_stops_a_ray_sweep_and_a_rerun_keeps_what_finished(tiny_raw, tmp_path):
    import subprocess
    import sys

    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.05, 0.1, 0.2, 0.3], "seed": [0, 1]})
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "semcom_sim.cli", "sweep", str(exp), "--out", str(out), "--executor", "ray",
           "--max-parallel", "1"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if _finished(out):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "semcom-sim: interrupted" and "Traceback" not in err
    finished = _finished(out)
    assert 1 <= len(finished) < 8
    mtimes = {n: (out / "cells" / n / "results.csv").stat().st_mtime_ns for n in finished}
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])  # resumed by the local executor
    assert res.exit_code == 0, res.output + res.stderr
    assert res.output.count("finished earlier, skipped") == len(finished)
    assert mtimes == {n: (out / "cells" / n / "results.csv").stat().st_mtime_ns for n in finished}
    assert len(list(csv.DictReader(open(out / "cells.csv")))) == 8
    assert not [p for p in (out / "cells").iterdir() if p.name.startswith(".")]  # no staging folder left


def test_an_unreachable_ray_address_fails_in_seconds_and_writes_nothing(tiny_raw, tmp_path):
    import subprocess
    import sys

    exp = _experiment(tmp_path, tiny_raw, {"training.temperature": [0.3]})
    t0 = time.monotonic()
    # a process of its own: this module's Ray is already connected in the test process
    proc = subprocess.run([sys.executable, "-m", "semcom_sim.cli", "sweep", str(exp), "--out", str(tmp_path / "o"),
                           "--executor", "ray", "--address", "127.0.0.1:1"],  # port 1: nothing listens
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach Ray at 127.0.0.1:1" in proc.stderr and "--address" in proc.stderr
    assert not (tmp_path / "o").exists()
