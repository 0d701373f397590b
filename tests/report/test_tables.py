"""The reconstruction table of a sweep whose grid varies more than the latent dimension."""
import csv
import math
import statistics

from semcom_sim.report.tables import write_reconstruction_table


def _row(warmup, limit, seed, scheme, channel, mae):
    inf = channel == "none"
    return {"warmup": warmup, "limit": limit, "seed": seed, "scheme": scheme, "channel": channel,
            "link": "analog", "snr_db": math.inf if inf else 0.0, "rfs_keep": 1.0, "payload_dims": 64,
            "tti": 192 if scheme == "conventional" else 64, "tti_toi": 0.01, "mae_image": mae, "mse_image": mae / 10,
            "acc_recon_image": 0.9, "mae_text": 2 * mae, "mse_text": mae / 5, "acc_recon_text": 0.8}


def test_every_grid_key_but_the_seed_is_a_group_of_its_own(tmp_path):
    rows = [_row(w, lim, s, sc, ch, 0.1 + 0.01 * s + (0.05 if w == "null" else 0.0) + (0.02 if lim == "180" else 0.0))
            for w in ("null", "warm") for lim in ("180", "null") for s in (0, 1, 2)
            for sc in ("conventional", "centroid") for ch in ("none", "awgn")]
    keys = ["warmup", "limit", "seed"]
    table = write_reconstruction_table(rows, keys, tmp_path)
    # one row per cell, scheme and condition; the latent dimension from the payload (no embedding_dim in the grid)
    assert len(table) == len(rows) and {t["latent_dim"] for t in table} == {64}
    assert table[0]["condition"] == "noiseless" and list(table[0])[:5] == ["condition", "warmup", "limit", "method",
                                                                           "latent_dim"]
    assert all(t["tti_saving"] == (0.0 if t["method"] == "conventional" else 1 - 64 / 192) for t in table)
    grouped = list(csv.DictReader(open(tmp_path / "reconstruction_over_seeds.csv")))
    assert len(grouped) == 2 * 2 * 2 * 2  # condition x warmup x limit x method
    g = next(r for r in grouped if (r["condition"], r["warmup"], r["limit"], r["method"])
             == ("awgn 0 dB", "warm", "180", "centroid"))
    maes = [0.1 + 0.01 * s + 0.02 for s in (0, 1, 2)]
    assert g["n_seeds"] == "3"
    assert math.isclose(float(g["mae_image_mean"]), statistics.fmean(maes), rel_tol=1e-5)
    assert math.isclose(float(g["mae_mean"]), statistics.fmean(1.5 * m for m in maes), rel_tol=1e-5)
    assert math.isclose(float(g["mae_image_std"]), statistics.stdev(maes), rel_tol=1e-4)
    md = (tmp_path / "reconstruction_table.md").read_text()
    assert "| warmup | limit | method | latent dim | MAE |" in md
    assert "| warm | 180 | centroid | 64 | 0.195 ± 0.015 |" in md, md
