"""Bad input: one line naming the file and field, exit code 2, nothing written."""
import pytest
import torch
from typer.testing import CliRunner

from semcom_sim.cli import app

runner = CliRunner()


def _set(raw, dotted, value):
    node = raw
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


BAD = [
    ("training.temperature", 0.0, "training.temperature"),
    ("training.temperature", -1, "training.temperature"),
    ("training.epochs", "many", "training.epochs"),
    ("training.unknown_knob", 1, "training.unknown_knob"),
    ("channel.snr_db", [], "channel.snr_db"),
    ("transmitter.rfs_keep", [0.5, 1.5], "transmitter.rfs_keep"),
    ("transmitter.rfs_keep", [0.0], "transmitter.rfs_keep"),
    ("channel.presets", ["awgn", "martian"], "channel.presets"),
    ("encoders.image.name", "resnet9000", "encoders.image.name"),
    ("encoders.text.options", {"depth": 3}, "encoders.text.options.depth"),
    ("data.modalities", ["image", "video"], "data.modalities"),
    ("data.source", "imagenet", "data.source"),
    ("training.gap_loss.anchor", "smell", "training.gap_loss.anchor"),
    ("receiver.head", "svm", "receiver.head"),
    ("transmitter.schemes", ["centroid", "hologram"], "transmitter.schemes"),
]


@pytest.mark.parametrize("field,value,named", BAD)
def test_bad_scenario_exits_2_with_one_line(tiny_raw, write_scenario, tmp_path, field, value, named):
    _set(tiny_raw, field, value)
    path = write_scenario(tiny_raw)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert str(path) in lines[0] and named in lines[0]
    assert not out.exists()


def test_missing_file_and_invalid_yaml(tmp_path):
    res = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "nope.yaml: file not found" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntraining: [unclosed\n")
    res = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "bad.yaml" in res.stderr and "invalid YAML" in res.stderr
    assert not (tmp_path / "o").exists()


def test_bad_override_names_the_key(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    res = runner.invoke(app, ["validate", str(path), "--set", "training.temperature=-0.5"])
    assert res.exit_code == 2 and "training.temperature" in res.stderr
    res = runner.invoke(app, ["validate", str(path), "--set", "training.temperature=0.07"])
    assert res.exit_code == 0, res.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tiny_raw, write_scenario, tmp_path):
    path = write_scenario(tiny_raw)
    res = runner.invoke(app, ["run", str(path), "--device", "cuda", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "device" in res.stderr and "no GPU" in res.stderr
    assert not (tmp_path / "o").exists()


def test_refuses_to_overwrite_a_foreign_folder(tiny_raw, write_scenario, tmp_path):
    path = write_scenario(tiny_raw)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    res = runner.invoke(app, ["run", str(path), "--out", str(foreign)])
    assert res.exit_code == 2
    assert (foreign / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("field,value,named", [
    ("data.options", {"noise_snr_db": [30, 10]}, "data.options"),
    ("encoders.image.options", {"width": -3}, "encoders.image.options"),
])
def test_bad_component_options_exit_2(tiny_raw, write_scenario, tmp_path, field, value, named):
    _set(tiny_raw, field, value)
    path = write_scenario(tiny_raw)
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and named in res.stderr
    assert not (tmp_path / "o").exists()
