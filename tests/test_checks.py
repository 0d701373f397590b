"""semcom_sim.scenario.schema is a leaf (the models only); semcom_sim.scenario.checks checks a scenario
against the registries, channel presets included: one line naming the preset file and field, exit code 2."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import semcom_sim.scenario.schema
from semcom_sim.cli import app
from semcom_sim.scenario import check_channel_preset, load_scenario, parse_scenario
from semcom_sim.errors import UserError
from conftest import refused as _refused  # noqa: E402  (tests/ is on the path)

runner = CliRunner()


@pytest.mark.parametrize("module", ["schema", "training", "fields"])
def test_the_schema_imports_nothing_of_the_package(module):
    path = Path(semcom_sim.scenario.schema.__file__).with_name(f"{module}.py")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):  # function-level imports too
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.append("." * node.level + (node.module or ""))
            elif node.module and node.module.split(".")[0] == "semcom_sim":
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "semcom_sim"]
    assert set(found) <= {".fields", ".training"}, found  # the schema's own modules only


def test_importing_checks_is_light():
    code = textwrap.dedent("""
        import sys
        import semcom_sim.scenario
        print(sorted(m for m in ("torch", "sionna", "open_clip", "semcom_sim.channel", "semcom_sim.encoders")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_config_only_parses_and_checks_check(tiny_raw, write_scenario):
    tiny_raw["receiver"] = {"head": "svm"}  # a name only the registry knows to be wrong
    path = write_scenario(tiny_raw)
    assert parse_scenario(path).receiver.head == "svm"
    with pytest.raises(UserError, match="receiver.head: unknown head 'svm'"):
        load_scenario(path)


# --------------------------------------------------------------------------- channel presets

def _preset(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "my_channel.yaml"
    path.write_text("name: my_channel\n" + body)
    return path


def _validate_with(tiny_raw, write_scenario, preset: Path) -> str:
    tiny_raw["channel"]["presets"] = ["awgn", str(preset)]
    return _refused(["validate", str(write_scenario(tiny_raw))])


def test_shipped_presets_pass_the_checks():
    from semcom_sim.scenario import list_presets

    for name, path in list_presets().items():
        assert check_channel_preset(path).name == name


def test_preset_with_an_unknown_model(tiny_raw, write_scenario, tmp_path):
    preset = _preset(tmp_path, "model: martian\n")
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert line.startswith(f"semcom-sim: {preset}: model: unknown channel model 'martian'"), line
    assert "known: awgn, rayleigh" in line


def test_preset_with_an_unknown_option(tiny_raw, write_scenario, tmp_path):
    preset = _preset(tmp_path, "model: rayleigh\noptions: {fading: block, doppler_hz: 30}\n")
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert f"{preset}: options.doppler_hz: unknown option (allowed: fading, num_rx_ant, csi, pilots, pilot_snr_offset_db)" in line, line


@pytest.mark.parametrize("key", ["device", "precision"])
def test_preset_cannot_set_what_the_run_sets(tiny_raw, write_scenario, tmp_path, key):
    preset = _preset(tmp_path, f"model: awgn\noptions: {{{key}: cuda}}\n")
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert f"{preset}: options.{key}: set by the run, not an option (allowed: none)" in line, line


def test_preset_with_a_bad_option_value(tiny_raw, write_scenario, tmp_path):
    preset = _preset(tmp_path, "model: rayleigh\noptions: {fading: slow}\n")
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert f"{preset}: options: " in line and "fading" in line and "slow" in line, line


def test_preset_missing_a_needed_option(tiny_raw, write_scenario, tmp_path):
    preset = _preset(tmp_path, "model: rayleigh\n")
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert f"{preset}: options: missing option 'fading'" in line, line


def test_a_projects_own_preset_is_checked_by_name(tiny_raw, write_scenario, tmp_path):
    (tmp_path / "channels").mkdir()
    preset = tmp_path / "channels" / "rayleigh_block.yaml"  # shadows the packaged one
    preset.write_text("name: rayleigh_block\nmodel: rayleigh\noptions: {fading: slow}\n")
    line = _refused(["validate", str(write_scenario(tiny_raw))])
    assert f"{preset}: options: " in line and "slow" in line, line


def test_presets_lists_a_broken_preset_as_invalid(tmp_path):
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "odd.yaml").write_text("name: odd\nmodel: martian\n")
    res = runner.invoke(app, ["presets", "--scenario", str(tmp_path / "s.yaml")])
    assert res.exit_code == 0, res.output
    (odd,) = [line for line in res.output.splitlines() if line.startswith("odd ")]
    assert "invalid:" in odd and "unknown channel model 'martian'" in odd
    assert any(line.startswith("rayleigh_fast ") and "rayleigh, fading=fast" in line for line in res.output.splitlines())


def test_a_preset_in_the_old_flat_form_says_where_options_go(tiny_raw, write_scenario, tmp_path):
    preset = _preset(tmp_path, "model: rayleigh\nfading: block\n")  # the form preset files had before
    line = _validate_with(tiny_raw, write_scenario, preset)
    assert f"{preset}: fading: unknown key; a model's options go under 'options:'" in line, line
