"""The ``embeddings`` source with the ``identity`` encoder: precomputed embeddings from .npz files,
no training, the usual transmitter, channels, receiver and report."""
import csv
import json
import pickle

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.data import SOURCES
from semcom_sim.data.embeddings import EmbeddingsSource
from semcom_sim.encoders import ENCODERS, build_encoder
from semcom_sim.errors import UserError

runner = CliRunner()
MODS = ("image", "audio", "text")
N, D, C = 300, 16, 5


def clusters(n=N, d=D, classes=C, seed=0, noise=0.3, random_labels=False, with_split=True):
    """Class centres + a fixed offset per modality + noise; rows 0-4, 25-29, ... (12 per class) are test rows."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, d))
    arrays = {m: (centres[labels] + rng.normal(size=d) * 0.5 + noise * rng.normal(size=(n, d))).astype(np.float32)
              for m in MODS}
    arrays["labels"] = rng.permutation(labels) if random_labels else labels
    if with_split:
        arrays["split"] = np.where(np.arange(n) // 5 % 5 == 0, "test", "train")
    return arrays


def save(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def scenario(tmp_path, options, *, dim=D, modalities=MODS, name="emb"):
    raw = {
        "name": name, "device": "cpu", "embedding_dim": dim,
        "data": {"source": "embeddings", "modalities": list(modalities), "test_fraction": 0.2,
                 "cache_dir": str(tmp_path / "cache"), "options": options},
        "encoders": {m: {"name": "identity"} for m in modalities},
        "training": {"temperature": 0.1},
        "transmitter": {"schemes": ["conventional", "centroid"], "rfs_keep": [1.0]},
        "channel": {"presets": ["awgn"], "snr_db": [-10.0, 20.0], "mc_draws": 2},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# --------------------------------------------------------------------------- loading


def test_one_file_with_split_array(tmp_path):
    arrays = clusters()
    path = save(tmp_path / "emb.npz", arrays)
    src = EmbeddingsSource(npz_path=str(path))
    assert src.modalities == MODS
    assert dict(src.input_shapes()) == {m: (D,) for m in MODS}
    assert src.instance_counts(0.5) == (240, 60)  # the split array decides, not test_fraction
    train, test = src.load(tmp_path, seed=0, test_fraction=0.5)
    is_test = arrays["split"] == "test"
    assert (len(train), len(test)) == (240, 60)
    assert train.raw_sizes == {m: D for m in MODS}
    assert train.class_names == ("0", "1", "2", "3", "4") and train.labels.dim() == 1
    assert torch.equal(test.labels, torch.from_numpy(arrays["labels"][is_test]))
    for m in MODS:
        assert np.allclose(test.inputs[m].numpy(), unit(arrays[m][is_test]), atol=1e-6)
        assert np.allclose(train.inputs[m].numpy(), unit(arrays[m][~is_test]), atol=1e-6)
    raw, _ = EmbeddingsSource(npz_path=str(path), normalize=False).load(tmp_path, 0, 0.2)
    assert np.array_equal(raw.inputs["audio"].numpy(), arrays["audio"][~is_test])
    # the class accepts any modality name before a file is named; an instance lists the file's arrays
    assert "lidar" in EmbeddingsSource.modalities and SOURCES["embeddings"] is EmbeddingsSource


def test_one_file_without_split_is_split_stratified_and_seeded(tmp_path):
    arrays = clusters(with_split=False)
    arrays["labels"] = arrays["labels"] * 10 + 3  # classes 3, 13, ..., 43: mapped to 0..4
    src = EmbeddingsSource(npz_path=str(save(tmp_path / "emb.npz", arrays)))
    assert src.instance_counts(0.2) == (240, 60)
    train, test = src.load(tmp_path, seed=7, test_fraction=0.2)
    assert (len(train), len(test)) == (240, 60)
    assert train.class_names == ("3", "13", "23", "33", "43")
    assert np.bincount(test.labels.numpy()).tolist() == [12] * 5  # stratified: 60 / 5 per class
    rows = lambda d: {tuple(np.round(r, 5)) for r in d.inputs["image"].numpy()}  # noqa: E731
    assert not rows(train) & rows(test) and len(rows(train) | rows(test)) == N
    again = src.load(tmp_path, seed=7, test_fraction=0.2)[1]
    other = src.load(tmp_path, seed=8, test_fraction=0.2)[1]
    assert torch.equal(again.inputs["text"], test.inputs["text"])
    assert not torch.equal(other.inputs["text"], test.inputs["text"])
    # data.limit keeps a stratified subset of that many, in the split's proportion
    assert src.instance_counts(0.2, 100) == (80, 20)
    small_tr, small_te = src.load(tmp_path, seed=7, test_fraction=0.2, limit=100)
    assert (len(small_tr), len(small_te)) == (80, 20)
    assert np.bincount(small_te.labels.numpy()).tolist() == [4] * 5


def test_train_and_test_files(tmp_path):
    arrays = clusters(with_split=False)
    tr = save(tmp_path / "tr.npz", {k: v[:200] for k, v in arrays.items()})
    te = save(tmp_path / "te.npz", {k: v[200:] for k, v in arrays.items()})
    src = EmbeddingsSource(train_path=str(tr), test_path=str(te))
    assert src.instance_counts(0.5) == (200, 100)  # test_fraction is unused
    train, test = src.load(tmp_path, 0, 0.5)
    assert np.allclose(test.inputs["image"].numpy(), unit(arrays["image"][200:]), atol=1e-6)
    assert torch.equal(train.labels, torch.from_numpy(arrays["labels"][:200]))
    # a split array in a per-split file may only name that file's own split
    save(tmp_path / "tr.npz", {**{k: v[:200] for k, v in arrays.items()}, "split": np.full(200, "train")})
    assert EmbeddingsSource(train_path=str(tr), test_path=str(te)).instance_counts(0.5) == (200, 100)
    save(tmp_path / "te.npz", {**{k: v[200:] for k, v in arrays.items()}, "split": np.full(100, "train")})
    with pytest.raises(UserError, match=r"te\.npz: split: value 'train' at row 0: split values must be 'test'"):
        EmbeddingsSource(train_path=str(tr), test_path=str(te)).input_shapes()


def test_multi_hot_labels_load_as_float_targets(tmp_path):
    arrays = clusters()
    arrays["labels"] = (np.random.default_rng(0).random((N, 4)) < 0.5).astype(np.int8)
    train, test = EmbeddingsSource(npz_path=str(save(tmp_path / "emb.npz", arrays))).load(tmp_path, 0, 0.2)
    assert train.labels.dim() == 2 and test.labels.dtype == torch.float32 and test.labels.shape == (60, 4)
    assert torch.equal(test.labels, torch.from_numpy(arrays["labels"][arrays["split"] == "test"]).float())


def test_identity_encoder_has_no_parameters_and_passes_rows_through():
    enc = build_encoder("identity", 6, (6,), {})
    assert ENCODERS["identity"].modality == "" and sum(p.numel() for p in enc.parameters()) == 0
    x = torch.randn(5, 6)
    assert torch.allclose(enc(x), x / x.norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="embedding_dim"):
        build_encoder("identity", 8, (6,), {})


# --------------------------------------------------------------------------- bad files


def _drop(key):
    return lambda a: a.pop(key)


def _set(key, fn):
    return lambda a: a.__setitem__(key, fn(a))


def _nan(a):
    a["image"][3, 2] = np.nan


def _inf(a):
    a["text"][5, 0] = np.inf


BAD_FILES = [
    ("no labels", _drop("labels"), "labels", "no labels array"),
    ("rows differ", _set("audio", lambda a: a["audio"][:-1]), "audio", "299 rows"),
    ("D differs", _set("audio", lambda a: a["audio"][:, :8]), "audio", "D = 8"),
    ("nan", _nan, "image", "NaN"),
    ("inf", _inf, "text", "infinite"),
    ("object split", _set("split", lambda a: a["split"].astype(object)), "split", "object array"),
    ("object modality", _set("image", lambda a: a["image"].astype(object)), "image", "object array"),
    ("int modality", _set("image", lambda a: (a["image"] * 10).astype(np.int32)), "image", "must be float"),
    ("labels 3-D", _set("labels", lambda a: a["labels"][:, None, None]), "labels", "labels must be"),
    ("float labels", _set("labels", lambda a: a["labels"].astype(np.float64)), "labels", "integer"),
    ("negative label", _set("labels", lambda a: np.r_[-1, a["labels"][1:]]), "labels", ">= 0"),
    ("multi-hot not 0/1", _set("labels", lambda a: 2 * np.eye(C, dtype=np.int64)[a["labels"]]), "labels", "0 or 1"),
    ("one class", _set("labels", lambda a: a["labels"] * 0), "labels", "at least 2"),
    ("split value", _set("split", lambda a: np.where(np.arange(N) == 7, "val", a["split"])), "split", "'val'"),
    ("split one-sided", _set("split", lambda a: np.full(N, "train")), "split", "no 'test' rows"),
    ("split shape", _set("split", lambda a: a["split"][:10]), "split", "[N] = [300]"),
]


@pytest.mark.parametrize("case,mutate,array,says", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_exits_2_naming_file_and_array(tmp_path, case, mutate, array, says):
    arrays = clusters()
    mutate(arrays)
    npz = save(tmp_path / "emb.npz", arrays)
    path = scenario(tmp_path, {"npz_path": "emb.npz"})  # relative to the scenario file
    for cmd in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2, res.output + res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith(f"semcom-sim: {npz}: {array}: "), lines[0]
        assert says in lines[0], lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing written


def _npy_object(p):
    np.save(open(p, "wb"), np.array([{"image": 1}], dtype=object), allow_pickle=True)


def _pickle(p):
    p.write_bytes(pickle.dumps({"image": np.zeros((3, 3))}))


@pytest.mark.parametrize("write,says", [
    (_npy_object, "a .npy object array (pickled data, never loaded"),
    (_pickle, "pickled data (never loaded"),
    (lambda p: np.save(open(p, "wb"), np.zeros((4, 4))), "a single .npy array, not an .npz archive"),
    (lambda p: p.write_text("image,labels\n1,2\n"), "not a NumPy file"),
    (lambda p: p.write_bytes(b""), "cannot read it as an .npz archive"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "cannot read it as an .npz archive"),
    (lambda p: None, "file not found (data.options.npz_path)"),
], ids=["npy-object", "pickle", "npy", "text", "empty", "broken-zip", "missing"])
def test_unreadable_file_exits_2_naming_it(tmp_path, write, says):
    npz = tmp_path / "emb.npz"
    write(npz)
    path = scenario(tmp_path, {"npz_path": str(npz)})
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"semcom-sim: {npz}: ") and says in lines[0], res.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_scenario_mistakes_exit_2(tmp_path):
    arrays = clusters()
    npz = save(tmp_path / "emb.npz", arrays)
    # a modality the file lacks: the file and the array
    res = runner.invoke(app, ["validate", str(scenario(tmp_path, {"npz_path": str(npz)}, modalities=("image", "depth")))])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert f"{npz}: depth: no modality array 'depth'" in res.stderr
    # embedding_dim must be the file's D
    path = scenario(tmp_path, {"npz_path": str(npz)}, dim=32)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert str(path) in res.stderr and "embedding_dim is 32 but the data have 16" in res.stderr
    # the test file must have the train file's arrays
    tr = save(tmp_path / "tr.npz", {k: v[:200] for k, v in arrays.items() if k != "split"})
    te = save(tmp_path / "te.npz", {k: v[200:] for k, v in arrays.items() if k not in ("split", "text")})
    res = runner.invoke(app, ["validate", str(scenario(tmp_path, {"train_path": str(tr), "test_path": str(te)}))])
    assert res.exit_code == 2 and f"{te}: text: no modality array 'text'" in res.stderr
    # options: one file or a pair, not both, never neither; 'path' is not an option
    for options, says in [({"npz_path": str(npz), "train_path": str(tr)}, "not both"),
                          ({"train_path": str(tr)}, "test_path"), ({}, "needs npz_path"),
                          ({"path": str(npz)}, "unknown option"), ({"npz_path": str(npz), "normalize": "yes"},
                                                                   "normalize")]:
        res = runner.invoke(app, ["validate", str(scenario(tmp_path, options))])
        assert res.exit_code == 2 and "data.options" in res.stderr and says in res.stderr, (options, res.stderr)


# --------------------------------------------------------------------------- end to end


def _run(tmp_path, arrays, name):
    save(tmp_path / f"{name}.npz", arrays)
    path = scenario(tmp_path, {"npz_path": f"{name}.npz"}, name=name)
    out = tmp_path / f"out_{name}"
    res = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    return rows, json.loads((out / "summary.json").read_text())


def _row(rows, scheme, channel, snr=float("inf")):
    return next(r for r in rows if r["scheme"] == scheme and r["channel"] == channel and float(r["snr_db"]) == snr)


def test_end_to_end_run_on_clusters_and_on_random_labels(tmp_path):
    arrays = clusters()
    rows, summary = _run(tmp_path, arrays, "clusters")
    # nothing trained and nothing cached
    assert summary["training_history"] == [] and summary["encoders_cached"] is False
    assert not list((tmp_path / "cache").glob("encoders/*.pt"))
    assert (summary["n_train"], summary["n_test"]) == (240, 60)
    assert summary["raw_sizes"] == {m: D for m in MODS} and summary["toi"] == 3 * D
    # the gaps the run measured are the file's: ||mean of unit test rows a - mean of unit test rows b||
    test = arrays["split"] == "test"
    means = {m: unit(arrays[m][test]).mean(0) for m in MODS}
    for a, b in (("image", "audio"), ("image", "text"), ("audio", "text")):
        assert summary["latent_test"]["gap"][f"{a}-{b}"] == pytest.approx(
            float(np.linalg.norm(means[a] - means[b])), abs=1e-5)
    assert summary["latent_test"]["gap_mean"] > 0.1  # the modality offsets are visible
    conv, cent = _row(rows, "conventional", "none"), _row(rows, "centroid", "none")
    assert (int(conv["tti"]), int(cent["tti"]), int(conv["toi"])) == (3 * D, D, 3 * D)
    assert int(conv["channel_uses"]) == 3 * D // 2 and int(cent["channel_uses"]) == D // 2
    # separable clusters: far above chance (0.2) without noise and at 20 dB, lower at -10 dB
    assert float(conv["acc_top1"]) >= 0.95 and float(cent["acc_top1"]) >= 0.95
    for scheme in ("conventional", "centroid"):
        high, low = float(_row(rows, scheme, "awgn", 20.0)["acc_top1"]), float(_row(rows, scheme, "awgn", -10.0)["acc_top1"])
        assert high >= 0.9 and low < high
    # the same embeddings with labels shuffled: near chance
    rows, _ = _run(tmp_path, clusters(random_labels=True), "shuffled")
    for scheme in ("conventional", "centroid"):
        assert float(_row(rows, scheme, "none")["acc_top1"]) < 0.4


def test_end_to_end_multi_hot_labels_use_one_vs_rest_heads(tmp_path):
    rng = np.random.default_rng(3)
    k = 4
    labels = np.zeros((N, k), dtype=np.int64)
    for i in range(N):
        labels[i, rng.choice(k, size=2, replace=False)] = 1
    centres = rng.normal(size=(k, D))
    arrays = {m: (labels @ centres + rng.normal(size=D) * 0.5 + 0.3 * rng.normal(size=(N, D))).astype(np.float32)
              for m in MODS}
    arrays["labels"] = labels
    arrays["split"] = np.where(np.arange(N) % 5 == 0, "test", "train")
    rows, summary = _run(tmp_path, arrays, "multihot")
    assert summary["latent_test"]["fisher_ratio"] is None  # multi-label: no Fisher ratio
    for scheme in ("conventional", "centroid"):
        clean = _row(rows, scheme, "none")
        # two of four labels per row: chance mAP and micro-F1 are about 0.5
        assert float(clean["map"]) > 0.9 and float(clean["micro_f1"]) > 0.8 and float(clean["acc_top1"]) > 0.9
        assert float(_row(rows, scheme, "awgn", -10.0)["map"]) < float(clean["map"])


def test_a_decoder_that_cannot_rebuild_an_embedding_is_refused(tmp_path):
    npz = save(tmp_path / "emb.npz", clusters())
    path = scenario(tmp_path, {"npz_path": str(npz)})
    raw = yaml.safe_load(path.read_text())
    raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp"}}}}
    path.write_text(yaml.safe_dump(raw))
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "receiver.reconstruction.decoders.image" in res.stderr and "image_mlp" in res.stderr
    assert not (tmp_path / "o").exists()
