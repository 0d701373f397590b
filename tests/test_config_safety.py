"""Scenario safety: non-finite and out-of-range values, budgets (semcom_sim.scenario.budget), YAML bombs,
unreadable files and malformed --set items are all refused at validation, in one line, exit 2."""
from __future__ import annotations

import copy
import csv
import gzip
import os
import resource
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.errors import UserError
from semcom_sim.scenario import budget, load_scenario, parse_override
from semcom_sim.scenario.parameters import count_parameters
from semcom_sim.scenario.reading import MAX_FILE_BYTES
from conftest import refused as _refused  # noqa: E402  (tests/ is on the path)

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
runner = CliRunner()
INF, NAN = float("inf"), float("nan")


def _set(raw: dict, dotted: str, value) -> dict:
    node = raw
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return raw


def _ok(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr


# --------------------------------------------------------------------------- values

NON_FINITE = [
    ("training.temperature", INF),
    ("training.lr", NAN),
    ("training.gap_loss.weight", INF),
    ("receiver.l2", INF),
    ("data.test_fraction", NAN),
    ("channel.snr_db", [0.0, NAN]),
    ("channel.snr_db", {"start": 0.0, "stop": INF, "num": 3}),
    ("transmitter.rfs_keep", [NAN]),
    ("transmitter.links", ["analog", {"name": "digital", "options": {"code_rate": NAN}}]),
    ("receiver.reconstruction.example_snr_db", [INF]),
    ("encoders.image.options.width", INF),
    ("data.options.noise_snr_db", [10.0, NAN]),
    ("limits.memory_gib", INF),
]


@pytest.mark.parametrize("field,value", NON_FINITE)
def test_non_finite_floats_are_refused(tiny_raw, write_scenario, field, value):
    path = write_scenario(_set(tiny_raw, field, value))
    line = _refused(["validate", str(path)])
    assert str(path) in line and field.split(".")[0] in line
    assert "finite" in line, line


def test_snr_range_error_names_the_range_field(tiny_raw, write_scenario):
    path = write_scenario(_set(tiny_raw, "channel.snr_db", {"start": 0.0, "stop": 10.0, "num": 0}))
    line = _refused(["validate", str(path)])
    assert "channel.snr_db.num" in line and "greater than or equal to 1" in line


@pytest.mark.parametrize("seed,ok", [(-1, False), (2**63, False), (2**63 - 1, True), (0, True)])
def test_seed_range(tiny_raw, write_scenario, seed, ok):
    path = write_scenario(_set(tiny_raw, "seed", seed))
    if ok:
        _ok(["validate", str(path)])
    else:
        assert "seed" in _refused(["validate", str(path)])


@pytest.mark.parametrize("field,value", [
    ("embedding_dim", 2**21), ("data.limit", 10**10), ("transmitter.links", [{"name": "digital", "options": {"bits": 17}}]),
    ("transmitter.links", [{"name": "digital", "options": {"ldpc_iterations": 10**5}}]),
    ("transmitter.links", [{"name": "digital", "options": {"bits_per_symbol": 3}}]),
    ("transmitter.links", [{"name": "digital", "options": {"rate": 0.5}}]),
    ("transmitter.links", [{"name": "analog", "label": "a/b"}]), ("transmitter.links", ["analog", "analog"]),
    ("transmitter.links", ["analog", {"name": "analog", "label": "analog"}]), ("transmitter.links", ["nolink"]),
    ("transmitter.schemes", ["centroid", "centroid"]), ("transmitter.schemes", [{"name": "centroid", "options": {"x": 1}}]), ("training.batch_size", 2**21),
    ("channel.snr_db", {"start": 0.0, "stop": 1.0, "num": 10**7}), ("name", "../elsewhere"), ("name", "/tmp/x"),
    ("name", ""),
])
def test_nonsense_values_are_refused(tiny_raw, write_scenario, field, value):
    path = write_scenario(_set(tiny_raw, field, value))
    assert field in _refused(["validate", str(path)])


# --------------------------------------------------------------------------- limits

ABSURD = [
    # (override, the limit named, the field blamed)
    ("embedding_dim=100000", "memory_gib", "embedding_dim"),
    ("channel.mc_draws=1000000000", "channel_symbols", "channel.mc_draws"),
    ("training.epochs=10000000", "training_samples", "training.epochs"),
    ("channel.snr_db={start: -10, stop: 20, num: 10000}", "snr_points", "channel.snr_db"),
    ("encoders.image.options.width=100000", "memory_gib", "encoders.image.options"),
    ("data.options.audio_samples=100000000", "memory_gib", "data"),
]


@pytest.mark.parametrize("override,limit,field", ABSURD)
def test_absurd_sizes_are_refused_before_any_work(tiny_raw, write_scenario, tmp_path, override, limit, field):
    tiny_raw["data"]["cache_dir"] = str(tmp_path / "cache")
    path = write_scenario(tiny_raw)
    _ok(["validate", str(path)])  # imports done before the peak memory is read
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = tmp_path / "out"
    line = _refused(["run", str(path), "--set", override, "--out", str(out)])
    assert f"{path}: {field}: " in line, line
    assert "over the limit of" in line and f"(raise limits.{limit} to allow it)" in line, line
    assert not out.exists() and not (tmp_path / "cache").exists()  # nothing read, trained or written
    # estimated, not built: the peak memory of this process grew by far less than a GiB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < (1 << 30) // 1024


def test_the_message_carries_the_estimate(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    line = _refused(["validate", str(path), "--set", "channel.mc_draws=1000000000"])
    # tiny: 3 SNR points x 2 presets x 100 test instances x (3*8 + 8 + 3*4 + 4) channel uses per draw
    assert "the run would send 2.9e13 channel symbols, over the limit of 2e10" in line, line


def test_raising_a_limit_explicitly_allows_it(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    snr = "channel.snr_db={start: -10, stop: 20, num: 5000}"
    assert "limits.snr_points" in _refused(["validate", str(path), "--set", snr])
    _ok(["validate", str(path), "--set", snr, "--set", "limits.snr_points=5000"])
    epochs = "training.epochs=10000000"
    assert "limits.training_samples" in _refused(["validate", str(path), "--set", epochs])
    _ok(["validate", str(path), "--set", epochs, "--set", "limits.training_samples=1e12"])
    # or in the file
    _set(tiny_raw, "limits.training_samples", 1e12)
    tiny_raw["training"]["epochs"] = 10**7
    _ok(["validate", str(write_scenario(tiny_raw, "raised.yaml"))])


def test_memory_limit_is_overridable(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    line = _refused(["validate", str(path), "--set", "limits.memory_gib=0.5"])
    assert "the run would need about" in line and "over the limit of 0.5 GiB (raise limits.memory_gib" in line
    _ok(["validate", str(path), "--set", "limits.memory_gib=64"])


def test_digital_work_is_budgeted(tiny_raw, write_scenario):
    tiny_raw["transmitter"]["links"] = ["analog", "digital"]
    path = write_scenario(tiny_raw)
    _ok(["validate", str(path)])
    line = _refused(["validate", str(path), "--set", "channel.mc_draws=100000"])
    assert "coded bits x LDPC iterations" in line and "limits.ldpc_bit_iterations" in line


def test_reconstruction_epochs_are_budgeted(tiny_raw, write_scenario):
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp"}}, "epochs": 10**8}}
    line = _refused(["validate", str(write_scenario(tiny_raw))])
    assert "receiver.reconstruction.epochs" in line and "limits.training_samples" in line


def _experiment_scenarios():
    from semcom_sim.sweep import _fmt_value, cells, load_experiment

    for exp_path in sorted((REPO / "experiments").glob("*.yaml")):
        exp = load_experiment(exp_path)
        fixed = [f"{k}={_fmt_value(v)}" for k, v in exp.set.items()]
        for cell in cells(exp):
            yield f"{exp_path.name} {cell}", (exp_path.parent / exp.base).resolve(), fixed + [
                f"{k}={_fmt_value(v)}" for k, v in cell.items()]


def _shipped():
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        yield path.name, path, []
    yield from _experiment_scenarios()


def test_shipped_scenarios_and_experiments_fit_comfortably(tmp_path):
    """Every shipped scenario and experiment cell is far below every default limit."""
    mnist = tmp_path / "mnist"  # only the label headers are read to count MNIST
    mnist.mkdir()
    for name, n in (("train", 60000), ("t10k", 10000)):
        (mnist / f"{name}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", n))
    defaults = limits_defaults()
    checked = 0
    for label, path, overrides in _shipped():
        if "mnist" in path.name:
            overrides = overrides + [f"data.options.image_dir={mnist}"]
        if path.name == "embeddings_example.yaml":  # its data file is written by a script first
            npz = tmp_path / "embeddings_example.npz"
            if not npz.exists():
                subprocess.run([sys.executable, str(REPO / "scripts" / "make_embeddings_example.py"), "--out", str(npz)],
                               check=True, capture_output=True)
            overrides = overrides + [f"data.options.npz_path={npz}"]
        try:
            sc = load_scenario(path, overrides)
        except UserError as e:
            if "audio_dir" in str(e):  # the FSDD recordings are not in this checkout
                continue
            raise
        est = budget.estimate_scenario(sc)
        assert est.memory_bytes <= 0.6 * defaults["memory_gib"] * budget.GIB, label
        assert est.channel_symbols <= defaults["channel_symbols"] / 100, label
        assert est.ldpc_bit_iterations <= defaults["ldpc_bit_iterations"] / 20, label
        assert est.training_samples <= defaults["training_samples"] / 100, label
        assert est.decoder_samples <= defaults["training_samples"] / 100, label
        assert est.snr_points <= defaults["snr_points"] / 20, label
        checked += 1
    assert checked >= 30


def limits_defaults() -> dict:
    from semcom_sim.scenario.schema import LimitsConfig

    return LimitsConfig().model_dump()


def test_estimates_of_the_default_scenario():
    """The numbers the limits calibration quotes (docs/guide/scenarios.md; three_modality: 1437 / 360 instances)."""
    sc = load_scenario(REPO / "scenarios" / "three_modality.yaml")
    est = budget.estimate_scenario(sc)
    assert (est.counts.train, est.counts.test) == (1437, 360)
    # (96 + 32 + 48 + 16 + 9 + 3) uses per instance x 360 x 13 SNR x 20 draws x 3 presets
    assert est.channel_symbols == 204 * 360 * 13 * 20 * 3
    assert est.training_samples == 25 * 1437
    assert 1.0 * budget.GIB < est.memory_bytes < 3 * budget.GIB  # measured peak RSS: 1.75 GB


def test_link_costs_match_the_built_links():
    from semcom_sim.links import LinkCost
    from semcom_sim.links.digital import Digital, DigitalOptions

    for t, bits, rate, bps in [(64, 4, 0.5, 4), (16, 4, 0.5, 2), (7, 3, 1 / 3, 4), (64, 12, 0.5, 4), (3, 4, 0.9, 6)]:
        options = DigitalOptions(bits=bits, code_rate=rate, bits_per_symbol=bps, ldpc_iterations=7)
        link = Digital.__new__(Digital)  # the properties only, no code built
        link.payload_len, link.bits, link.code_rate, link.bits_per_symbol = t, bits, rate, bps
        # what the budgets count without building the code equals what the built link uses
        assert Digital.cost(options, t) == LinkCost(link.channel_uses, link.coded_bits, 7)


def test_plan_sizes_follow_the_transmission_plan(tiny_raw, write_scenario):
    from semcom_sim.transmitter.plan import transmissions

    tiny_raw["transmitter"].update(links=["analog", {"name": "digital", "options": {"code_rate": 0.75}}],
                                   equal_bandwidth=["rfs", "bits", "code_rate"])
    sc = load_scenario(write_scenario(tiny_raw))
    sizes = budget.plan_sizes(sc, {m: (1,) for m in sc.data.modalities})
    assert [x.tx for x in sizes] == transmissions(sc)
    # the analog link has no bits or code-rate variant; the digital one spends the bandwidth its way
    eq = {(t.scheme, t.link.label): t.link.options for t in transmissions(sc) if t.scheme.startswith("centroid_eq")}
    assert set(eq) == {("centroid_eq_rfs", "analog"), ("centroid_eq_rfs", "digital"), ("centroid_eq_bits", "digital"),
                       ("centroid_eq_code_rate", "digital")}
    m = len(sc.data.modalities)
    assert eq["centroid_eq_bits", "digital"].bits == 4 * m and eq["centroid_eq_code_rate", "digital"].code_rate == 0.25


def test_parameter_counts_match_built_encoders_and_cost_nothing_when_huge():
    import time

    from semcom_sim.encoders import build_encoder

    for name, shape, opts in [("small_cnn", (1, 8, 8), {}), ("logmel_cnn", (8000,), {"width": 16}),
                              ("openclip_text", (16,), {"width": 16, "layers": 1})]:
        real = sum(p.numel() for p in build_encoder(name, 16, shape, opts).parameters())
        assert count_parameters(lambda: build_encoder(name, 16, shape, opts)) == real
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    n = count_parameters(lambda: build_encoder("logmel_cnn", 64, (8000,), {"width": 100_000}))
    assert n > 3 * 10**10 - 10**9  # two 100k x 100k x (5, 3) convolutions and more: 120 GB in float32
    assert time.perf_counter() - t0 < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < (256 << 20) // 1024


# --------------------------------------------------------------------------- instance counts

def test_digits_instance_counts_match_the_loader(monkeypatch, tmp_path):
    from semcom_sim.data.digits import DigitsSource

    src = DigitsSource()
    for tf in (0.2, 0.25, 0.5):
        _, _, is_test = src._images(7, tf)
        assert src.instance_counts(tf) == (int((~is_test).sum()), int(is_test.sum()))
    monkeypatch.setattr(DigitsSource, "_audio_for",
                        lambda self, labels, n_train, cache_dir, seed: np.zeros((len(labels), self.audio_samples),
                                                                                np.float32))
    for limit in (20, 400, 1000, 5000):
        train, test = src.load(tmp_path, 3, 0.25, limit)
        assert src.instance_counts(0.25, limit) == (len(train), len(test))


def test_mnist_counts_come_from_the_headers(tmp_path):
    from semcom_sim.data.digits import DigitsSource
    from semcom_sim.data.mnist import split_sizes

    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 60000) + b"\0" * 9)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 10000))
    assert split_sizes(tmp_path) == (60000, 10000)
    src = DigitsSource(image="mnist", image_dir=str(tmp_path))
    assert src.instance_counts(0.2) == (60000, 10000)
    assert src.instance_counts(0.2, 6000) == (5143, 857)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"garbage!")
    with pytest.raises(ValueError, match="not an IDX label file"):
        split_sizes(tmp_path)


def test_missing_mnist_labels_are_refused_at_validation(tiny_raw, write_scenario, tmp_path):
    empty = tmp_path / "mnist"
    empty.mkdir()
    tiny_raw["data"]["options"] = {"image": "mnist", "image_dir": str(empty)}
    line = _refused(["validate", str(write_scenario(tiny_raw))])
    assert ": data: " in line and "train-labels-idx1-ubyte" in line


@pytest.mark.parametrize("fraction", [0.001, 0.999])
def test_a_split_without_every_class_is_refused(tiny_raw, write_scenario, fraction):
    line = _refused(["validate", str(write_scenario(_set(tiny_raw, "data.test_fraction", fraction)))])
    assert ": data: test_fraction" in line and "fewer than the 10 classes" in line


def test_image_caption_counts_match_the_loader(tmp_path):
    from PIL import Image

    from semcom_sim.data.image_caption import ImageCaptionSource

    rows = []
    for i in range(23):
        Image.fromarray(np.full((4, 4, 3), i * 10, np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"filepath": f"{i}.png", "title": f"picture {i}", "label": "ab"[i % 2]})
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["filepath", "title", "label"], delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    src = ImageCaptionSource(csv_path=str(tmp_path / "pairs.csv"), image_size=4, context_length=8)
    for tf, limit in ((0.2, None), (0.3, 10), (0.5, 100)):
        train, test = src.load(tmp_path, 0, tf, limit)
        assert src.instance_counts(tf, limit) == (len(train), len(test))


# --------------------------------------------------------------------------- YAML bombs

def _bomb(levels: int = 9) -> str:
    """An alias bomb: 10 ** levels strings from a few hundred bytes."""
    lines = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines)


def test_alias_bomb_in_a_scenario_is_refused(tiny_raw, tmp_path):
    text = yaml.safe_dump(tiny_raw, sort_keys=False)
    text = text.replace("  limit: 400\n", "  limit: 400\n  options:\n    test_speakers: *a8\n")
    path = tmp_path / "bomb.yaml"
    path.write_text(f"x-anchors:\n{_bomb()}\n{text}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = _refused(["validate", str(path)])
    assert line.startswith(f"semcom-sim: {path}: ") and "alias bomb" in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < (256 << 20) // 1024


def test_alias_bomb_in_an_experiment_is_refused(tiny_raw, write_scenario, tmp_path):
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"x-anchors:\n{_bomb()}\nname: t\nbase: base.yaml\nset:\n  data.options.test_speakers: *a8\n"
                   "grid:\n  receiver.l2: [0.001]\n")
    out = tmp_path / "sweep"
    line = _refused(["sweep", str(exp), "--out", str(out)])
    assert f"{exp}: " in line and "alias bomb" in line
    assert not out.exists()


def test_alias_bomb_in_a_set_value_is_refused(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    value = "[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], " \
            "&c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], " \
            "&e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]]"
    line = _refused(["validate", str(path), "--set", f"data.options.test_speakers={value}"])
    assert "--set" in line and "alias bomb" in line


def test_recursive_and_deeply_nested_yaml(tmp_path):
    rec = tmp_path / "rec.yaml"
    rec.write_text("name: x\nloop: &a [*a]\n")
    assert "nests more than" in _refused(["validate", str(rec)])
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "invalid YAML" in _refused(["validate", str(deep)])


def test_big_files_are_refused_without_reading_them(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.write(b"name: x\n")
        f.truncate(4 << 30)  # sparse: 4 GiB that cost no disk
    assert f"larger than {MAX_FILE_BYTES >> 20} MiB" in _refused(["validate", str(big)])


# --------------------------------------------------------------------------- unreadable files

def test_binary_scenario_and_preset(tiny_raw, write_scenario, tmp_path):
    blob = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" + bytes(range(256))
    scenario = tmp_path / "binary.yaml"
    scenario.write_bytes(blob)
    assert "not a UTF-8 text file (byte 0x89 at offset 0)" in _refused(["validate", str(scenario)])
    preset = tmp_path / "weird.yaml"
    preset.write_bytes(blob)
    tiny_raw["channel"]["presets"] = ["awgn", str(preset)]
    line = _refused(["validate", str(write_scenario(tiny_raw))])
    assert f"{preset}: not a UTF-8 text file" in line


def test_binary_experiment(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_bytes(b"name: t\nbase: \xff\xfe\n")
    assert f"{exp}: not a UTF-8 text file (byte 0xff at offset 14)" in _refused(["sweep", str(exp)])


def test_folder_empty_and_comment_only_files(tmp_path):
    assert "is a folder, not a YAML file" in _refused(["validate", str(tmp_path)])
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert f"{empty}: the file is empty" in _refused(["validate", str(empty)])
    blank = tmp_path / "blank.yaml"
    blank.write_text("\n   \n")
    assert "the file is empty" in _refused(["validate", str(blank)])
    comments = tmp_path / "comments.yaml"
    comments.write_text("# just a comment\n")
    assert "holds no YAML document" in _refused(["validate", str(comments)])
    nul = tmp_path / "nul.yaml"
    nul.write_text("name: a\x00b\n")
    assert "invalid YAML" in _refused(["validate", str(nul)])


@pytest.mark.skipif(IS_ROOT, reason="root reads any file whatever its permissions")
def test_unreadable_file(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    path.chmod(0o000)
    try:
        line = _refused(["validate", str(path)])
    finally:
        path.chmod(0o644)
    assert f"{path}: cannot read: Permission denied" in line


def test_huge_integer_is_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nseed: " + "9" * 5000 + "\n")
    assert "invalid YAML: a number has too many digits" in _refused(["validate", str(path)])


# --------------------------------------------------------------------------- --set

@pytest.mark.parametrize("item,shown", [("=5", "'=5'"), ("  =5", "'  =5'"), ("a..b=1", "'a..b'"), (".x=1", "'.x'"),
                                        ("x.=1", "'x.'"), ("training. .epochs=3", "'training. .epochs'")])
def test_set_with_an_empty_key_part_names_the_item(tiny_raw, write_scenario, item, shown):
    path = write_scenario(tiny_raw)
    line = _refused(["validate", str(path), "--set", item])
    assert line.startswith("semcom-sim: --set: ") and shown in line and "empty" in line


def test_parse_override_still_parses():
    assert parse_override("training.temperature=0.01") == ("training.temperature", 0.01)
    assert parse_override(" seed =3") == ("seed", 3)
    assert parse_override("channel.snr_db=[0, 5]") == ("channel.snr_db", [0, 5])
    with pytest.raises(UserError, match="invalid YAML"):
        parse_override("channel.snr_db=[0, 5")


# --------------------------------------------------------------------------- start-up

def test_analog_scenario_validates_without_heavy_imports(tiny_raw, write_scenario):
    path = write_scenario(tiny_raw)
    code = textwrap.dedent(f"""
        import sys
        from semcom_sim.scenario import load_scenario
        load_scenario({str(path)!r})
        print("sionna" in sys.modules, "open_clip" in sys.modules, "matplotlib" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False False"  # heavy libraries wait until a run needs them


def test_digital_scenario_still_checks_the_code(tiny_raw, write_scenario):
    raw = copy.deepcopy(tiny_raw)
    raw["transmitter"].update(links=[{"name": "digital", "options": {"bits": 1, "code_rate": 0.5}}])
    raw["embedding_dim"] = 8
    line = _refused(["validate", str(write_scenario(raw))])
    assert "transmitter.links.0" in line and "k = payload_len * bits" in line


def test_the_old_digital_block_says_where_its_fields_went(tiny_raw, write_scenario):
    raw = copy.deepcopy(tiny_raw)
    raw["transmitter"]["digital"] = {"bits": 4}
    line = _refused(["validate", str(write_scenario(raw))])
    assert "transmitter.digital: moved: the digital link's options go with the link" in line
    assert "{name: digital, options:" in line
