"""Input mistakes that were accepted silently or ended in a traceback: duplicate YAML keys, presets
sharing a name, experiment names and grid sizes, results.csv files fed to compare, forged .npz
headers, splits too small for their classes, a deleted working folder. Each is refused in one line,
exit 2, before anything is written."""
from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.report import RESULT_COLUMNS, write_results
from conftest import refused  # noqa: E402  (tests/ is on the path)

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- duplicate YAML keys

def test_a_key_given_twice_in_a_scenario_is_refused(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    text = path.read_text()
    assert "  epochs: 6\n" in text
    path.write_text(text.replace("  epochs: 6\n", "  epochs: 6\n  lr: 0.1\n  epochs: 600\n"))
    line = refused(["validate", str(path)])
    epochs = [i + 1 for i, t in enumerate(path.read_text().splitlines()) if t.strip().startswith("epochs:")]
    assert line.startswith(f"semcom-sim: {path}: line {epochs[1]}: ")
    assert f"key 'epochs' is given twice in one mapping (first at line {epochs[0]})" in line


def test_a_key_given_twice_in_a_preset_is_refused(tiny_raw, write_scenario, tmp_path):
    channels = tmp_path / "channels"
    channels.mkdir()
    (channels / "mine.yaml").write_text("name: mine\nmodel: awgn\nname: other\n")
    tiny_raw["channel"]["presets"] = ["mine"]
    line = refused(["validate", str(write_scenario(tiny_raw))])
    assert f"{channels / 'mine.yaml'}: line 3: " in line and "key 'name' is given twice" in line


def test_a_key_given_twice_in_an_experiment_is_refused(tiny_raw, write_scenario, tmp_path):
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: t\nbase: base.yaml\ngrid:\n  receiver.l2: [0.001]\n  receiver.l2: [0.1, 1.0]\n")
    out = tmp_path / "sweep"
    line = refused(["sweep", str(exp), "--out", str(out)])
    assert f"{exp}: line 5: " in line and "key 'receiver.l2' is given twice" in line
    assert not out.exists()


def test_a_key_given_twice_in_a_set_value_is_refused(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    line = refused(["validate", str(path), "--set", "training.gap_loss={enabled: true, enabled: false}"])
    assert "--set: training.gap_loss: " in line and "key 'enabled' is given twice" in line


def test_merge_keys_still_override(tiny_raw, write_scenario):
    """A key beside ``<<:`` overrides the merged one: not a duplicate."""
    from semcom_sim.scenario import parse_scenario

    path = write_scenario(tiny_raw)
    text = path.read_text()
    old = ("  image:\n    name: small_cnn\n    options:\n      width: 8\n"
           "  audio:\n    name: logmel_cnn\n    options:\n      width: 16\n")
    assert old in text
    path.write_text(text.replace(old, "  image: &enc {name: small_cnn, options: {width: 8}}\n"
                                      "  audio:\n    <<: *enc\n    name: logmel_cnn\n"))
    audio = parse_scenario(path).encoders["audio"]
    assert (audio.name, audio.options) == ("logmel_cnn", {"width": 8})


# --------------------------------------------------------------------------- presets sharing a name

def test_two_presets_with_one_name_are_refused(tiny_raw, write_scenario, tmp_path):
    """A user preset named awgn but Rayleigh beside the packaged awgn: its rows would read awgn."""
    channels = tmp_path / "channels"
    channels.mkdir()
    (channels / "my_fading.yaml").write_text("name: awgn\nmodel: rayleigh\noptions: {fading: block}\n")
    tiny_raw["channel"]["presets"] = ["awgn", "my_fading"]
    line = refused(["validate", str(write_scenario(tiny_raw))])
    assert "channel.presets" in line and str(channels / "my_fading.yaml") in line
    assert "awgn.yaml" in line and "both named 'awgn'" in line


@pytest.mark.parametrize("presets", [["awgn", "awgn"], ["rayleigh_block", "awgn", "rayleigh_block"]])
def test_a_preset_listed_twice_is_refused(tiny_raw, write_scenario, presets):
    tiny_raw["channel"]["presets"] = presets
    line = refused(["validate", str(write_scenario(tiny_raw))])
    assert "channel.presets" in line and f"preset {presets[-1]!r}" in line and "listed twice" in line


# --------------------------------------------------------------------------- experiments

@pytest.mark.parametrize("name", ["../x", "/tmp/semcom-abs", "", ".hidden", "a/b"])
def test_an_experiment_name_that_is_not_a_folder_name_is_refused(tiny_raw, write_scenario, tmp_path, monkeypatch,
                                                                  name):
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "grid": {"receiver.l2": [0.001]}}))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default output folder is runs/<name> under the working folder
    before = _snapshot(tmp_path)
    line = refused(["sweep", str(exp)])
    assert f"{exp}: name: " in line and "should match pattern" in line
    assert _snapshot(tmp_path) == before and list(work.iterdir()) == []
    assert not Path("/tmp/semcom-abs").exists()


def test_a_grid_of_a_million_cells_is_refused_at_once(tiny_raw, write_scenario, tmp_path):
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "big", "base": "base.yaml",
                                   "grid": {f"receiver.k{i}": list(range(10)) for i in range(6)}}))
    out = tmp_path / "sweep"
    t0 = time.perf_counter()
    line = refused(["sweep", str(exp), "--out", str(out)])
    assert time.perf_counter() - t0 < 3.0
    assert f"{exp}: grid: the grid has 1,000,000 cells" in line and "10,000" in line
    assert not out.exists()


def test_the_grid_budget_counts_the_product_not_the_values():
    from semcom_sim.sweep import MAX_CELLS, Experiment

    grid = {"a": list(range(100)), "b": list(range(100))}
    assert math.prod(map(len, grid.values())) == MAX_CELLS
    Experiment(name="ok", base="b.yaml", grid=grid)  # exactly at the budget


# --------------------------------------------------------------------------- compare and results.csv

def _row(**changes) -> dict:
    row = {"scheme": "centroid", "channel": "awgn", "link": "analog", "snr_db": 0.0, "snr_instance_db": 4.7,
           "rx_train": "clean", "rfs_keep": 1.0, "payload_dims": 32, "tti": 32, "toi": 96, "tti_toi": 0.33,
           "channel_uses": 16, "bits": None, "acc_top1": 0.5, "acc_top5": 0.9, "acc_top1_capacity": 0.4,
           "r1": 0.5, "r5": 0.9, "ber": None, "bler": None, "mc_draws": 2, "n_test": 50}
    return {**row, **changes}


@pytest.fixture
def analog_run(tmp_path) -> Path:
    """The results.csv of an analog run: ber, bler and bits are empty in every row."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [_row(channel="none", snr_db=math.inf, snr_instance_db=math.inf, mc_draws=1, acc_top1_capacity=None)]
    rows += [_row(snr_db=s, acc_top1=0.1 * i) for i, s in enumerate((0.0, 10.0, 20.0))]
    write_results(rows, run / "results.csv")
    return run


@pytest.mark.parametrize("metric", ["ber", "bler", "bits"])
def test_a_digital_metric_on_analog_runs_is_one_line(analog_run, tmp_path, metric):
    out = tmp_path / "c.png"
    for x in ("snr_db", "tti"):
        line = refused(["compare", str(analog_run), "--metric", metric, "--x", x, "--out", str(out)])
        assert f"column {metric!r} has no values in these rows (ber, bler and bits apply to digital links)" in line
    assert not out.exists()


def test_a_label_column_as_metric_and_noiseless_only_rows(analog_run, tmp_path):
    out = tmp_path / "c.png"
    assert "column 'scheme' holds labels, not numbers" in refused(
        ["compare", str(analog_run), "--metric", "scheme", "--out", str(out)])
    only = tmp_path / "noiseless"
    only.mkdir()
    write_results([_row(channel="none", snr_db=math.inf)], only / "results.csv")
    assert "only noiseless rows" in refused(["compare", str(only), "--out", str(out)])
    assert not out.exists()
    res = runner.invoke(app, ["compare", str(only), "--x", "tti", "--out", str(out)])
    assert res.exit_code == 0, res.stderr


def _edit_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


BROKEN_CSV = [
    (lambda s: s.replace(",awgn,analog,10,", ",awgn,analog,ten,"), "snr_db: line 4: holds 'ten', not a number"),
    (lambda s: s.replace(",awgn,analog,10,", ",awgn,analog,,"), "snr_db: line 4: is empty, not a number"),
    (lambda s: s.replace(",clean,1,", ",clean,all,"), "rfs_keep: line 4: holds 'all', not a number"),
    (lambda s: s.replace(",clean,1,", ",clean,1,", 1) + ",0.5,extra", "line 4: 25 cells, but the header has 23"),
    (lambda s: ",".join(s.split(",")[:10]), "line 4: 10 cells, but the header has 23 columns"),
]


@pytest.mark.parametrize("edit,expected", BROKEN_CSV)
def test_a_broken_results_csv_is_one_line(analog_run, tmp_path, edit, expected):
    csv_path = analog_run / "results.csv"
    _edit_line(csv_path, 4, edit)  # the awgn row at 10 dB
    out = tmp_path / "c.png"
    before = _snapshot(analog_run)
    line = refused(["compare", str(analog_run), "--out", str(out)])
    assert line.startswith(f"semcom-sim: {csv_path}: {expected}"), line
    assert not out.exists() and _snapshot(analog_run) == before


def test_read_results_keeps_inf_empty_and_text_columns(analog_run):
    from semcom_sim.report import read_results

    rows = read_results(analog_run / "results.csv", text=["rfs_keep"])
    assert rows[0]["snr_db"] == math.inf and rows[0]["ber"] == "" and rows[1]["rfs_keep"] == "1"
    assert rows[1]["n_test"] == 50 and rows[1]["acc_top1"] == 0.0
    assert list(rows[0]) == list(RESULT_COLUMNS)


# --------------------------------------------------------------------------- .npz files

def _member(shape: tuple[int, ...], dtype: str, data: bytes) -> bytes:
    from numpy.lib import format as npy_format

    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _embeddings_scenario(write_scenario, npz: Path, dim: int = 4, **data) -> Path:
    return write_scenario({
        "name": "emb", "device": "cpu", "embedding_dim": dim,
        "data": {"source": "embeddings", "modalities": ["image", "text"], "options": {"npz_path": str(npz)}, **data},
        "encoders": {"image": {"name": "identity"}, "text": {"name": "identity"}},
        "training": {"temperature": 0.1}, "channel": {"presets": ["awgn"], "snr_db": [0.0]},
    })


def _arrays(n: int = 40, classes: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"image": rng.normal(size=(n, 4)).astype(np.float32), "text": rng.normal(size=(n, 4)).astype(np.float32),
            "labels": np.arange(n) % classes}


def test_an_npz_header_claiming_a_trillion_rows_is_refused(write_scenario, tmp_path):
    npz = tmp_path / "forged.npz"
    with zipfile.ZipFile(npz, "w") as z:  # a valid zip whose headers lie about their shapes
        z.writestr("image.npy", _member((10**12, 4), "<f4", b"\0" * 64))
        z.writestr("text.npy", _member((10**12, 4), "<f4", b"\0" * 64))
        z.writestr("labels.npy", _member((10**12,), "<i8", b"\0" * 64))
    before = npz.read_bytes()
    line = refused(["validate", str(_embeddings_scenario(write_scenario, npz))])
    assert line.startswith(f"semcom-sim: {npz}: image: its header declares float32 array of shape "
                           "[1000000000000, 4]") and "holds 64 bytes of data" in line
    assert npz.read_bytes() == before


def test_a_damaged_npz_member_names_the_file_and_the_array(write_scenario, tmp_path):
    npz = tmp_path / "damaged.npz"
    np.savez(npz, **_arrays(n=40_000))  # stored, not compressed: a flipped byte reaches only the CRC check
    data = bytearray(npz.read_bytes())
    start = data.find(b"\x93NUMPY", data.find(b"image.npy"))
    data[start + 600_000] ^= 0xFF
    npz.write_bytes(bytes(data))
    line = refused(["validate", str(_embeddings_scenario(write_scenario, npz))])
    assert line.startswith(f"semcom-sim: {npz}: image: cannot read its values (Bad CRC-32")


def test_a_split_that_is_not_utf8_names_the_npz_not_the_scenario(write_scenario, tmp_path):
    npz = tmp_path / "split.npz"
    np.savez(npz, **_arrays(), split=np.array([b"train"] * 30 + [b"test"] * 9 + [b"\xfftest"]))
    line = refused(["validate", str(_embeddings_scenario(write_scenario, npz))])
    assert line.startswith(f"semcom-sim: {npz}: split: value ") and "at row 39" in line


# --------------------------------------------------------------------------- splits too small

@pytest.mark.parametrize("fraction", [0.95, 0.99])
def test_a_limit_leaving_fewer_training_instances_than_classes_is_refused(tiny_raw, write_scenario, tmp_path,
                                                                           fraction):
    cache = tmp_path / "cache"
    tiny_raw["data"].update(limit=20, test_fraction=fraction, cache_dir=str(cache))
    path = write_scenario(tiny_raw)
    line = refused(["validate", str(path)])
    assert line.startswith(f"semcom-sim: {path}: data: limit 20 with test_fraction {fraction:g} leaves ")
    assert "each side needs at least one instance of each of the 10 classes" in line
    out = tmp_path / "out"
    assert refused(["run", str(path), "--out", str(out)]) == line
    assert not out.exists() and not cache.exists()


def test_a_small_test_pool_still_gives_every_class():
    """limit 20 at test_fraction 0.01: 10 test instances out of a pool of 18, some classes once in it
    (train_test_split refused to stratify that)."""
    from semcom_sim.data.digits import DigitsSource
    from semcom_sim.data.pools import stratified_subset

    source = DigitsSource()
    assert source.instance_counts(0.01, 20) == (10, 10)
    _, labels, is_test = source._images(0, 0.01)
    pool = np.flatnonzero(is_test)
    picked = stratified_subset(pool, labels, 10, 2)
    assert len(pool) == 18 and len(picked) == 10 and set(labels[picked]) == set(range(10))
    assert set(picked) <= set(pool)


@pytest.mark.parametrize("limit", [None, 20])
def test_an_embeddings_split_without_a_training_row_per_class_is_refused(write_scenario, tmp_path, limit):
    npz = tmp_path / "e.npz"
    np.savez(npz, **_arrays(n=40, classes=8))
    path = _embeddings_scenario(write_scenario, npz, test_fraction=0.95, limit=limit)
    line = refused(["validate", str(path)])
    assert line.startswith(f"semcom-sim: {path}: data: ") and "test_fraction 0.95 leaves" in line
    assert "for the file's 8 classes: the receiver's head needs a training instance of every class" in line


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.95])
def test_image_caption_splits_that_cannot_be_stratified_still_load(tmp_path, fraction):
    from PIL import Image

    from semcom_sim.data.image_caption import ImageCaptionSource

    rows = ["filepath\ttitle\tlabel"]
    for i in range(40):
        Image.fromarray(np.full((8, 8, 3), i * 5, np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png\ta caption {i}\tc{i % 4}")
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    source = ImageCaptionSource(csv_path=str(tmp_path / "d.csv"), image_size=8)
    train, test = source.load(tmp_path, 0, fraction)
    assert (len(train.labels), len(test.labels)) == source.instance_counts(fraction)


# --------------------------------------------------------------------------- the working folder

def test_a_deleted_working_folder_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    scenario = REPO / "scenarios" / "three_modality.yaml"
    code = f"import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); from semcom_sim.cli import main; " \
           f"main(['validate', {str(scenario)!r}])"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("semcom-sim: the current folder no longer exists (was it deleted?); cd to an existing "
                           "folder\n")
    assert proc.stdout == "" and not gone.exists()
