"""Channel presets live in the top-level channels/ and ship inside the package: listed, resolved by
name, present in a wheel."""
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from setuptools import find_packages
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.scenario import list_presets, load_channel_preset, packaged_presets_dir

REPO = Path(__file__).resolve().parents[2]


def test_packaged_presets_are_listed_and_resolve():
    found = list_presets()
    assert {"awgn", "rayleigh_block", "rayleigh_fast", "rician_k10", "rayleigh_block_2rx", "rayleigh_block_est",
            "tdl_c"} <= set(found)
    # a checkout (and an editable install) reads channels/ itself; a wheel has it as a package folder
    assert packaged_presets_dir() == REPO / "channels"
    assert all(p.parent == REPO / "channels" for p in found.values())
    assert load_channel_preset("rayleigh_block").options == {"fading": "block"}
    res = CliRunner().invoke(app, ["presets"])
    assert res.exit_code == 0 and "rayleigh, fading=fast" in res.output


def test_a_projects_own_preset_comes_first(tmp_path):
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "awgn.yaml").write_text("name: awgn\nmodel: rayleigh\noptions: {fading: fast}\n")
    scenario = tmp_path / "s.yaml"
    assert load_channel_preset("awgn", scenario).model == "rayleigh"
    assert list_presets(scenario)["awgn"] == tmp_path / "channels" / "awgn.yaml"


def _tracked_copy(dest: Path) -> Path:
    """The repository's tracked files copied to ``dest``: a wheel built from them cannot pick up a
    stale ``build/`` or untracked files, and the build leaves nothing in the checkout."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], check=True, capture_output=True,
                           text=True).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def test_a_wheel_carries_the_presets_and_resolves_them(tmp_path):
    src = _tracked_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(src)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("semcom_sim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "semcom_sim/channel/presets/awgn.yaml" in names
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("semcom_sim/channel/presets/")}
    assert shipped == {p.name for p in (REPO / "channels").glob("*.yaml")}
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # the unpacked wheel, not this checkout, resolves the name: a non-editable install
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import semcom_sim.scenario as c; "
            "assert c.__file__.startswith(sys.argv[1]), c.__file__; print(c.load_channel_preset('awgn').model)")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "awgn"


def test_pyproject_lists_every_package():
    """pyproject names its packages (package-dir needs that to map channels/ into the wheel): a
    subpackage missing from the list would be left out of a wheel while a checkout still imports it."""
    with open(REPO / "pyproject.toml", "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    assert listed == set(find_packages(REPO, include=["semcom_sim*"])) | {"semcom_sim.channel.presets"}
