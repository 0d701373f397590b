"""docs/extending.md's worked example, run as the page prints it: its Python block becomes the module
``semcom_sim.channel.phase_noise`` and its YAML block the preset ``channels/phase_noise_5deg.yaml``.
Each check runs in a subprocess, so the new model never enters this process's registry (the
registry test fails on a registered name without its line there)."""
from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "extending.md"
MODULE_HEAD = "# semcom_sim/channel/phase_noise.py"
PRESET_HEAD = "# channels/phase_noise_5deg.yaml"


def _blocks() -> dict[str, str]:
    """The page's fenced code blocks, by the file their first line names ("# path, comment")."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {b.splitlines()[0].split(",")[0]: b for b in blocks if b.strip()}


def _prelude(tmp_path: Path) -> str:
    """Python that registers the page's model as the module the page names."""
    (tmp_path / "phase_noise.py").write_text(_blocks()[MODULE_HEAD], encoding="utf-8")
    return textwrap.dedent(f"""
        import sys, types
        import semcom_sim.channel
        module = types.ModuleType("semcom_sim.channel.phase_noise")
        module.__package__ = "semcom_sim.channel"
        sys.modules[module.__name__] = module
        exec(compile(open({str(tmp_path / "phase_noise.py")!r}).read(), "phase_noise.py", "exec"), module.__dict__)
    """)


def _python(code: str, cwd: Path) -> str:
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_the_page_holds_the_module_and_the_preset():
    blocks = _blocks()
    assert MODULE_HEAD in blocks and PRESET_HEAD in blocks
    preset = yaml.safe_load(blocks[PRESET_HEAD])
    assert preset == {"name": "phase_noise_5deg", "model": "phase_noise", "options": {"sigma_deg": 5.0}}


def test_the_phase_noise_channel_rotates_as_a_wiener_walk(tmp_path):
    """The page's model, built from its preset: symbol l of a vector is rotated by a walk of l + 1
    Gaussian steps, so E[cos theta_l] = exp(-(l + 1) sigma^2 / 2); with no phase noise the error
    variance is N0 (AWGN); check refuses an angle outside [0, 180] degrees."""
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "phase_noise_5deg.yaml").write_text(_blocks()[PRESET_HEAD])
    out = _python(_prelude(tmp_path) + textwrap.dedent("""
        import math, torch
        from semcom_sim.channel import CHANNELS, build_channel
        from semcom_sim.scenario import load_channel_preset
        from sionna.phy import config
        config.seed = 7
        preset = load_channel_preset("channels/phase_noise_5deg.yaml")
        ch = build_channel(preset, "cpu", "double")
        x = torch.ones(1, 4000, 8, dtype=torch.complex128)              # [S, V, L] unit symbols
        x_u, no_eff = ch(x, torch.tensor([1e-10], dtype=torch.float64))
        print("rot5", *x_u.real.mean(1)[0].tolist())
        print("no_eff", float(no_eff.flatten()[0]))
        ch20 = CHANNELS["phase_noise"](sigma_deg=20.0, device="cpu", precision="double")
        x_u, _ = ch20(x, torch.tensor([1e-10], dtype=torch.float64))
        print("rot20", *x_u.real.mean(1)[0].tolist())
        ch0 = CHANNELS["phase_noise"](sigma_deg=0.0, device="cpu", precision="double")
        x_u, _ = ch0(x, torch.tensor([0.25], dtype=torch.float64))
        print("awgn", float((x_u - x).abs().square().mean()))
        try:
            CHANNELS["phase_noise"].check(sigma_deg=200.0)
        except ValueError as e:
            print("refused", e)
        print("capacity", ch.delivery_probability(16, 8, torch.tensor([10.0], dtype=torch.float64)))
    """), tmp_path)
    lines = {ln.split()[0]: ln.split(maxsplit=1)[1] for ln in out.splitlines() if ln.split()}
    for key, deg, tol in (("rot5", 5.0, 0.004), ("rot20", 20.0, 0.03)):
        measured = [float(v) for v in lines[key].split()]
        s2 = math.radians(deg) ** 2
        expected = [math.exp(-(l + 1) * s2 / 2) for l in range(8)]
        # 4,000 vectors: the mean of cos(theta_l) has sd <= sqrt((1 - e^{-(l+1)s2})/2 / 4000)
        assert max(abs(m - e) for m, e in zip(measured, expected)) < tol, (key, measured, expected)
    assert lines["rot20"].split()[-1] < lines["rot20"].split()[0]  # the walk drifts along the vector
    assert float(lines["no_eff"]) == pytest.approx(1e-10)
    assert float(lines["awgn"]) == pytest.approx(0.25, rel=0.05)
    assert "sigma_deg must be in [0, 180] degrees, got 200.0" in lines["refused"]
    assert lines["capacity"] == "None"


@pytest.mark.slow  # a tiny run over the new preset (training included)
def test_a_run_lists_the_new_preset_beside_the_shipped_ones(tmp_path):
    """The page's last step: the preset beside the scenario, named in channel.presets; the run
    writes its rows, and its capacity column stays empty while AWGN's is filled."""
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "phase_noise_5deg.yaml").write_text(_blocks()[PRESET_HEAD])
    raw = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())
    raw["data"]["cache_dir"] = str(tmp_path / "cache")
    raw["training"]["epochs"] = 2
    raw["transmitter"]["rfs_keep"] = [1.0]
    raw["channel"] = {"presets": ["awgn", "phase_noise_5deg"], "snr_db": [0.0, 10.0], "mc_draws": 1}
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    _python(_prelude(tmp_path) + textwrap.dedent("""
        from semcom_sim.cli import main
        try:
            main(["run", "scenario.yaml", "--out", "out"])
        except SystemExit as e:
            assert not e.code, e.code
    """), tmp_path)
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    pn = [r for r in rows if r["channel"] == "phase_noise_5deg"]
    aw = [r for r in rows if r["channel"] == "awgn"]
    assert sorted((r["scheme"], float(r["snr_db"])) for r in pn) == sorted(
        (s, snr) for s in ("conventional", "centroid") for snr in (0.0, 10.0))
    assert all(r["acc_top1_capacity"] == "" for r in pn)
    assert all(r["acc_top1_capacity"] != "" for r in aw)
    assert all(0.0 <= float(r["acc_top1"]) <= 1.0 for r in pn)
