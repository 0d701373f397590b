"""docs/guide/cluster.md's recipe, run as printed on one machine: a head raylet and a second raylet
standing in for the other node, each with its own home folder (so the token has to be copied, as
between machines), Ray temporary folder and ports; then a 4-cell sweep with --address, which must
run on both raylets and write what the local executor writes, byte for byte.

The page's commands are taken from its fenced blocks and changed only where one machine differs
from a cluster: HEAD is 127.0.0.1, the port is a free one, the shared paths are temporary ones,
each raylet gets its own --temp-dir and ports, and ``scp HEAD:`` becomes a copy from the head's home
folder. The page's last step, ``ray stop``, is not run: it stops every Ray process of the machine
(other users' included), so the test stops its own raylets by their process ids."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")  # in the test extras
REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "guide" / "cluster.md"


def _commands() -> dict[str, list[str]]:
    """The page's bash blocks, by their first line ("# on the head node", ...), as command lines."""
    blocks = re.findall(r"^```bash\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)
    out = {}
    for b in blocks:
        lines = b.strip().splitlines()
        if lines and lines[0].startswith("# "):
            out[lines[0][2:]] = [ln for ln in lines[1:] if ln.strip()]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_processes(marks: list[str]) -> list[int]:
    """Ids of the processes whose command line holds one of ``marks`` (this test's Ray temporary
    folders), and of all their descendants (the raylets' workers)."""
    parent, roots = {}, set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            stat = (d / "stat").read_text()
        except OSError:
            continue
        parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if any(m in cmd for m in marks):
            roots.add(int(d.name))
    found, grew = set(roots), True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def _stop(marks: list[str]) -> None:
    pids = _own_processes(marks)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.2)


def _experiment(folder: Path) -> Path:
    raw = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())
    raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    raw["transmitter"]["rfs_keep"] = [1.0]
    (folder / "base.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    exp = folder / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "cluster", "base": "base.yaml", "set": {"training.epochs": 3},
                                   "grid": {"training.temperature": [0.01, 0.3], "receiver.l2": [0.001, 0.1]}},
                                  sort_keys=False))
    return exp


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


@pytest.mark.slow  # two raylets and two sweeps (about 1.5 min on 2 cores)
def test_the_cluster_recipe_runs_a_sweep_on_two_raylets_as_the_local_executor_does(tmp_path):
    steps = _commands()
    head_cmds = steps["on the head node"]
    node_cmds = steps["on every other node"]
    (sweep_cmd,) = steps["anywhere that reaches the head (usually the head itself)"]
    assert any("scp HEAD:.ray/auth_token" in c for c in node_cmds)

    # Ray's sockets live under --temp-dir, and a Unix socket path has at most 107 bytes: short folders
    ray_tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    marks = [str(ray_tmp / "head"), str(ray_tmp / "node")]
    port = _free_port()
    homes = {"head": tmp_path / "home_head", "node": tmp_path / "home_node"}
    for h in homes.values():
        h.mkdir()
    exp = _experiment(tmp_path)
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env0.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")

    def local(cmd: str, node: str) -> str:
        """A page command as it runs on one machine standing for ``node``."""
        cmd = cmd.replace("HEAD:6379", f"127.0.0.1:{port}").replace("--port=6379", f"--port={port}")
        cmd = cmd.replace("scp HEAD:", f"cp {homes['head']}/")
        cmd = cmd.replace("--num-cpus=16", "--num-cpus=1")
        if "ray start" in cmd:
            cmd += "" if "--num-cpus" in cmd else " --num-cpus=1"
            cmd += (f" --temp-dir={ray_tmp / node} --disable-usage-stats"
                    f" --dashboard-agent-listen-port={_free_port()} --metrics-export-port={_free_port()}")
            if node == "head":
                cmd += " --include-dashboard=false"
        return cmd

    def sh(cmd: str, node: str, timeout: float = 180) -> subprocess.CompletedProcess:
        res = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env={**env0, "HOME": str(homes[node])},
                             capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, (cmd, res.stdout[-3000:], res.stderr[-3000:])
        return res

    try:
        for c in head_cmds:
            sh(local(c, "head"), "head")
        for c in node_cmds:
            sh(local(c, "node"), "node")
        assert (homes["node"] / ".ray" / "auth_token").read_text() == (homes["head"] / ".ray" / "auth_token").read_text()

        cmd = local(sweep_cmd, "head")
        cmd = cmd.replace("experiments/temperature.yaml", str(exp))
        cmd = cmd.replace("/shared/semcom-cache", str(tmp_path / "cache_ray")).replace(
            "/shared/runs/temperature", str(tmp_path / "ray"))
        t0 = time.monotonic()
        res = sh(cmd, "head", timeout=900)
        ray_s = time.monotonic() - t0
        # "[k/4] <cell>: done in 3.8 s (worker 12345)": which raylet ran it, from its worker logs
        pids = re.findall(r"done in [0-9.]+ s \(worker (\d+)\)", res.stdout + res.stderr)
        assert len(pids) == 4, res.stdout + res.stderr
        on = {n: {p for p in pids if list((ray_tmp / n).glob(f"session_*/logs/worker-*-{p}.out"))}
              for n in ("head", "node")}
        assert on["head"] and on["node"], (pids, on)

        sh(f"semcom-sim sweep {exp} --cache {tmp_path / 'cache_local'} --out {tmp_path / 'local'}", "head", timeout=900)
        a, b = _tree(tmp_path / "local"), _tree(tmp_path / "ray")
        assert len(a) == 2 + 4 and a == b  # cells.csv, results.csv and each cell's results.csv
        print(f"ray sweep on two raylets: {ray_s:.1f} s; cells on the joined node: {len(on['node'])}")
    finally:
        _stop(marks)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not _own_processes(marks)
