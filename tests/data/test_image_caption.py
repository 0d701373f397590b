"""The image-caption path: a CSV of image paths and captions, CLIP towers, multi-label metrics."""
import csv

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import average_precision_score, f1_score
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.receiver import mean_average_precision, micro_f1, topk_accuracy

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}


def test_map_and_micro_f1_match_sklearn():
    rng = np.random.default_rng(0)
    y = (rng.random((40, 5)) < 0.35).astype(np.float32)
    y[0] = 1  # every class has a positive
    s = rng.normal(size=(40, 5)) + 1.5 * y
    ref_map = average_precision_score(y, s, average="macro")
    ref_f1 = f1_score(y, s > 0, average="micro")
    logits, labels = torch.tensor(s), torch.tensor(y, dtype=torch.float64)
    assert float(mean_average_precision(logits, labels)) == pytest.approx(ref_map, abs=1e-9)
    assert float(micro_f1(logits, labels)) == pytest.approx(ref_f1, abs=1e-9)
    # batched over leading dimensions, one value per batch entry
    stacked = torch.stack([logits, -logits])
    assert mean_average_precision(stacked, labels).shape == (2,)
    assert float(mean_average_precision(stacked, labels)[0]) == pytest.approx(ref_map, abs=1e-9)
    # precision@1: is the top-scored label one of the true ones
    top = s.argmax(1)
    assert float(topk_accuracy(logits, labels, 1)) == pytest.approx(float(np.mean(y[np.arange(40), top])))


def _write_set(folder, multilabel: bool, n: int = 160):
    """Coloured squares (single-label) or two-coloured halves (multi-label) with matching captions."""
    rng = np.random.default_rng(1)
    names = list(COLOURS)
    rows = []
    for i in range(n):
        picked = sorted(rng.choice(len(names), size=2 if multilabel else 1, replace=False))
        img = np.zeros((16, 16, 3), dtype=np.uint8)
        for j, c in enumerate(picked):
            img[:, j * 16 // len(picked):(j + 1) * 16 // len(picked)] = COLOURS[names[c]]
        img = np.clip(img + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i}.png")
        words = " and ".join(names[c] for c in picked)
        rows.append({"filepath": f"{i}.png", "title": f"a {words} picture", "label": "|".join(names[c] for c in picked)})
    with open(folder / "pairs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["filepath", "title", "label"], delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return folder / "pairs.csv"


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.slow  # two end-to-end runs through the CLIP towers
def test_image_caption_run_with_clip_towers(multilabel, write_scenario, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    csv_path = _write_set(data_dir, multilabel)
    clip = {"model": "semcom-tiny-clip"}
    raw = {
        "name": "captions", "device": "cpu", "embedding_dim": 16,
        "data": {"source": "image_caption", "modalities": ["image", "text"], "test_fraction": 0.25,
                 "cache_dir": str(tmp_path / "cache"),
                 "options": {"csv_path": str(csv_path), "image_size": 32, "context_length": 16}},
        "encoders": {"image": {"name": "clip_image", "options": clip}, "text": {"name": "clip_text", "options": clip}},
        "training": {"temperature": 0.2, "epochs": 8, "batch_size": 40, "lr": 0.002},
        "transmitter": {"rfs_keep": [1.0]},
        "channel": {"presets": ["awgn"], "snr_db": [20.0], "mc_draws": 2},
    }
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(write_scenario(raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    centroid = next(r for r in rows if r["scheme"] == "centroid" and r["channel"] == "none")
    assert int(centroid["toi"]) == 3 * 32 * 32 + 16
    if multilabel:
        # two of four colours per image: chance mAP is about 0.5, chance micro-F1 about 0.5
        assert float(centroid["map"]) > 0.8 and float(centroid["micro_f1"]) > 0.7
    else:
        assert "map" not in rows[0]
        assert float(centroid["acc_top1"]) > 0.8  # chance is 0.25
